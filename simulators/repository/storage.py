"""Where document bytes live: a folder (default) or an S3-compatible bucket.

Incoming bytes are always staged in a local file first and published only once complete and
verified, so a backend never shows a partial document: the folder backend fsyncs and renames,
the S3 backend completes a multipart upload (the object appears whole or not at all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from simulators.repository.config import RepositoryConfig, S3Config

READ_SIZE = 1 << 16


class StorageBackend(Protocol):
    """The operations the repository needs from a place that keeps bytes under a key."""

    def publish(self, key: str, staged: Path) -> None:
        """Make the staged file's bytes the object ``key`` in one step; the file is consumed."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes ``[start, end)`` of object ``key`` in pieces."""
        ...

    def delete(self, key: str) -> None:
        """Remove object ``key``; a missing object is not an error."""
        ...

    def list_keys(self) -> Iterator[str]:
        """Yield the key of every stored object (the spy reads them all)."""
        ...


def fsync_file(path: Path) -> None:
    """Flush a file's bytes to the disk, so that a rename never exposes a hole after a crash."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to the disk, so that a rename survives a crash."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class FileSystemStorage:
    """Objects as files in one folder, named by key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Return the file holding object ``key`` (tests check on disk that purged bytes went)."""
        return self.root / key

    def publish(self, key: str, staged: Path) -> None:
        """Fsync the staged file, rename it into place and fsync the folder."""
        fsync_file(staged)
        os.replace(staged, self.path(key))
        fsync_dir(self.root)

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the requested bytes straight from the file."""
        with self.path(key).open("rb") as handle:
            handle.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                piece = handle.read(READ_SIZE if left is None else min(READ_SIZE, left))
                if not piece:
                    return
                if left is not None:
                    left -= len(piece)
                yield piece

    def delete(self, key: str) -> None:
        """Unlink the object's file."""
        self.path(key).unlink(missing_ok=True)

    def list_keys(self) -> Iterator[str]:
        """Yield the names of the files in the folder."""
        yield from sorted(entry.name for entry in self.root.iterdir() if entry.is_file())


class S3Storage:
    """Objects in an S3-compatible bucket under a key prefix, written by multipart upload."""

    def __init__(self, settings: S3Config) -> None:
        import boto3  # the optional "s3" extra: only this backend needs it

        self.settings = settings
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
        )
        if settings.create_bucket:
            self.client.create_bucket(Bucket=settings.bucket)

    def _name(self, key: str) -> str:
        return self.settings.prefix + key

    def publish(self, key: str, staged: Path) -> None:
        """Upload the staged file in parts; the object exists only once the upload completes."""
        bucket, name = self.settings.bucket, self._name(key)
        upload = self.client.create_multipart_upload(Bucket=bucket, Key=name)
        upload_id = upload["UploadId"]
        try:
            parts = []
            with staged.open("rb") as handle:
                # S3 wants at least one part, even for an empty object.
                while (body := handle.read(self.settings.part_size)) or not parts:
                    number = len(parts) + 1
                    answer = self.client.upload_part(
                        Bucket=bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
                    )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                    if not body:
                        break
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
            raise
        staged.unlink()

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream a ranged GET of the object."""
        if end is not None and end <= start:
            return
        ranged = {}
        if start or end is not None:
            # Only when needed: S3 refuses any range of an empty object.
            ranged["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        answer = self.client.get_object(Bucket=self.settings.bucket, Key=self._name(key), **ranged)
        body = answer["Body"]
        try:
            yield from body.iter_chunks(READ_SIZE)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        """Delete the object (S3 deletes of a missing key succeed)."""
        self.client.delete_object(Bucket=self.settings.bucket, Key=self._name(key))

    def list_keys(self) -> Iterator[str]:
        """List every object under the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=self.settings.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.settings.prefix) :]


def open_storage(config: RepositoryConfig) -> StorageBackend:
    """Return the backend the configuration names."""
    if config.backend == "s3":
        assert config.s3 is not None  # RepositoryConfig checks this
        return S3Storage(config.s3)
    return FileSystemStorage(config.data_dir / "documents")
