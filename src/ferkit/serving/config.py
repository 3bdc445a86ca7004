"""The limits of one server (``ferkit serve`` flags), validated once."""

from dataclasses import dataclass


@dataclass
class ServerConfig:
    """Limits of one server. Defaults suit a 2-core CPU machine."""

    max_upload_bytes: int = 10 * 2**20
    max_pixels: int = 40_000_000  # any phone photo; refuses decompression bombs before decoding
    workers: int = 1
    max_pending: int = 32  # uploads in flight (read, queued or running); more are refused with 503 unread
    read_timeout: float = 15.0  # seconds one body chunk may take to arrive (408 after)
    allowed_hosts: tuple[str, ...] | None = None  # Host names answered (any port); None = all. serve() sets loopback

    def __post_init__(self):
        rules = [
            ("max_upload_bytes", "--max-upload-mb", self.max_upload_bytes > 0, "> 0"),
            ("max_pixels", "--max-pixels", self.max_pixels > 0, "> 0"),
            ("workers", "--workers", self.workers >= 1, ">= 1"),
            ("max_pending", "--max-pending", self.max_pending >= self.workers, ">= workers"),
            ("read_timeout", "--read-timeout", self.read_timeout > 0, "> 0 seconds"),
        ]
        bad = [
            f"{field} = {getattr(self, field)!r} ({flag}) must be {rule}" for field, flag, ok, rule in rules if not ok
        ]
        if bad:
            raise ValueError(f"Invalid server limits: {'; '.join(bad)}.")
