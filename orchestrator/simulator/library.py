"""The seeded image library GetImageInfos answers from, and the signed URLs of images.

URLs are shaped like the service's: a CDN URL with an `auth_key` (URL signing type A,
`timestamp-rand-uid-md5`) or an OSS URL with `Expires`, `OSSAccessKeyId` and `Signature`.
Nothing is served at them; clients must treat them as secrets-bearing opaque strings.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from orchestrator.simulator.wire import format_time

CDN_HOST = "vod-emulator.example.com"
LIBRARY_OSS_HOST = "outin-emulator.oss-cn-shanghai.aliyuncs.com"
# Signs the emulator's URLs; it protects nothing and is public on purpose.
URL_SIGNING_KEY = "emulator-url-signing-key"
OSS_ACCESS_KEY_ID = "emulator-oss-key"
# GetImageInfos' documented default AuthTimeout.
DEFAULT_AUTH_TIMEOUT_S = 3600
# Library images were "uploaded" within the year before this instant (2024-01-01T00:00:00Z),
# so their CreationTime is the same in every run of a seed.
LIBRARY_EPOCH = 1_704_067_200
LIBRARY_SPAN_S = 365 * 24 * 3600
APP_ID = "app-1000000"


def cdn_url(path: str, *, expires_at: int) -> str:
    """A CDN URL whose `auth_key` expires at `expires_at` (Unix seconds)."""
    digest = hashlib.md5(f"{path}-{expires_at}-0-0-{URL_SIGNING_KEY}".encode()).hexdigest()
    return f"http://{CDN_HOST}{path}?auth_key={expires_at}-0-0-{digest}"


def oss_signed_url(path: str, *, expires_at: int) -> str:
    """An OSS URL signed until `expires_at`, as the origin hands out for private buckets."""
    digest = hashlib.sha1(f"GET\n{expires_at}\n{path}{URL_SIGNING_KEY}".encode()).hexdigest()
    return (
        f"https://{LIBRARY_OSS_HOST}{path}?Expires={expires_at}"
        f"&OSSAccessKeyId={OSS_ACCESS_KEY_ID}&Signature={digest}"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryImage:
    """One image of the library, as uploaded."""

    image_id: str
    title: str
    format: str
    width: int
    height: int
    file_size: int
    created_at: int
    cate_id: int

    @property
    def path(self) -> str:
        return f"/image/default/{self.image_id}.{self.format}"

    def to_wire(self, *, now: float, auth_timeout_s: int, output_type: str) -> dict[str, object]:
        """The GetImageInfos item; `output_type` picks a CDN or an OSS URL."""
        expires_at = int(now) + auth_timeout_s
        url = (
            oss_signed_url(self.path, expires_at=expires_at)
            if output_type == "oss"
            else cdn_url(self.path, expires_at=expires_at)
        )
        return {
            "ImageId": self.image_id,
            "Title": self.title,
            "CreationTime": format_time(self.created_at),
            "StorageLocation": LIBRARY_OSS_HOST,
            "Status": "Normal",
            "CateId": self.cate_id,
            "CateName": "Emulator",
            "Tags": "emulator",
            "ImageType": "default",
            "Description": f"Seeded library image {self.title}",
            "AppId": APP_ID,
            "URL": url,
            "Mezzanine": {
                "FileURL": oss_signed_url(self.path, expires_at=expires_at),
                "OriginalFileName": f"{self.title}.{self.format}",
                "Width": self.width,
                "Height": self.height,
                "FileSize": str(self.file_size),
            },
        }


def library_image_ids(seed: int, size: int) -> list[str]:
    """The IDs of a seed's library, in order: what a demo or test can look up."""
    return [
        hashlib.sha256(f"{seed}:library:{index}".encode()).hexdigest()[:32] for index in range(size)
    ]


class ImageLibrary:
    """`size` images derived from the seed alone."""

    def __init__(self, *, seed: int, size: int) -> None:
        rng = random.Random(f"{seed}:library")
        self._images = {
            image_id: LibraryImage(
                image_id=image_id,
                title=f"image-{index:04d}",
                format=rng.choice(("png", "jpg", "gif")),
                width=rng.choice((640, 1280, 1920)),
                height=rng.choice((360, 720, 1080)),
                file_size=rng.randint(10_000, 2_000_000),
                created_at=LIBRARY_EPOCH + rng.randrange(LIBRARY_SPAN_S),
                cate_id=rng.randint(1, 1_000_000),
            )
            for index, image_id in enumerate(library_image_ids(seed, size))
        }

    def __len__(self) -> int:
        return len(self._images)

    @property
    def image_ids(self) -> list[str]:
        return list(self._images)

    def get(self, image_id: str) -> LibraryImage | None:
        return self._images.get(image_id)
