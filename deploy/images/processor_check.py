"""Inside the processor image: FaceMesh and the identity embedding on one recorded JPEG frame.

    docker run --rm -i -v FRAMES_DIR:/frames:ro --entrypoint python3.11 liveness-processor:TAG \\
        - /frames/000010.jpg < deploy/images/processor_check.py

Prints the faces found, the embedding's norm and a digest of the mesh and the embedding: the
same frame gives the same digests in every build of the image that runs the same models, so a
pruned image can be compared with a full one. Exits 1 when no face or no embedding comes out.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from processors.identity import IdentityModel
from processors.landmarks import FaceAnalyzer, decode_jpeg


def main(frame: Path) -> int:
    """Analyse ``frame``; 0 when it has a face and an embedding of unit length."""
    with FaceAnalyzer() as analyzer:
        image = decode_jpeg(frame.read_bytes(), analyzer.limits)
        meshes = analyzer.mesh_points(image)
    if not meshes:
        print(f"{frame.name}: no face")
        return 1
    embedding = IdentityModel().embed(image, meshes[0])
    norm = float(np.linalg.norm(embedding))
    mesh_digest = hashlib.sha256(meshes[0].tobytes()).hexdigest()[:16]
    embedding_digest = hashlib.sha256(embedding.tobytes()).hexdigest()[:16]
    print(f"{frame.name}: {len(meshes)} face(s), embedding norm {norm:.4f}", end=", ")
    print(f"mesh {mesh_digest}, embedding {embedding_digest}")
    return 0 if abs(norm - 1.0) < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
