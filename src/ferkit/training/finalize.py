"""After the last epoch: training curves, calibration temperature on val, test report of the best checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ferkit.data.loaders import build_eval_loader
from ferkit.evaluation.calibration import calibration_extra
from ferkit.models.stats import model_extra
from ferkit.training.engine import evaluate

__all__ = ["calibration_extra", "finalize_run", "model_extra"]  # calibration_extra, model_extra: re-exported

log = logging.getLogger(__name__)


def finalize_run(
    cfg, prep, run_dir: Path, val_loader, device: torch.device, criterion, history: list[dict]
) -> dict | None:
    """Write ``curves.png``; fit the temperature on val and store it in ``best/model.json``; evaluate the best
    checkpoint on test into ``test_report/`` (ECE before/after temperature in ``extra``). Returns the report dict."""
    from ferkit.evaluation import compute_report, fit_temperature, plot_curves
    from ferkit.models import load_model, save_checkpoint

    try:
        plot_curves(history, run_dir / "curves.png", title=run_dir.name)
    except Exception as err:  # noqa: BLE001 - a plotting failure must not lose the trained model
        log.warning("could not draw curves.png: %s", err)
    best = run_dir / "best"
    model, meta = load_model(best, device)
    arrays = prep.arrays
    temperature = None
    if val_loader is not None:
        _, logits, labels = evaluate(model, val_loader, device)
        temperature = float(fit_temperature(logits.numpy(), labels.numpy()))
        meta["temperature"] = temperature
        log.info("calibration temperature (fitted on val): %.3f", temperature)
    report = None
    if arrays.test is not None:
        loader = build_eval_loader(
            arrays.test, prep.eval_tf, cfg.data.eval_batch_size or 2 * cfg.data.batch_size, cfg.data.workers
        )
        loss, logits, labels = evaluate(model, loader, device, criterion)
        y = labels.numpy()
        probs, calibration = calibration_extra(logits.numpy(), y, temperature)
        extra = {
            "run": str(run_dir),
            "checkpoint": str(best),
            "best_epoch": meta.get("metrics", {}).get("epoch"),
            **calibration,
            **model_extra(model, arrays.image_size, arrays.channels),
        }
        name = f"{meta['arch']} on {prep.dataset_name} {cfg.data.test_split or 'test'}"
        rep = compute_report(y, probs.argmax(1), arrays.classes, probs=probs, loss=loss, name=name, extra=extra)
        rep.save(run_dir / "test_report")
        report = rep.to_dict()
        meta["test_metrics"] = {
            "accuracy": rep.accuracy,
            "macro_f1": rep.macro["f1"],
            "n": rep.n,
            "ece": extra["ece_before_temperature"],
            "ece_calibrated": extra.get("ece_after_temperature"),
        }
        log.info("test: accuracy %.4f, macro F1 %.4f (n=%d)", rep.accuracy, rep.macro["f1"], rep.n)
    save_checkpoint(model, best, meta)
    return report
