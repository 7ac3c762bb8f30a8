#!/usr/bin/env python3
"""Writes the benchmark images as one `docker save` layout directory, for `docker load`.

    mkimages.py OUTDIR --layer-bytes N --inc-bytes N --big-bytes N --small-layers N
                --small-bytes N --base REF --inc REF --big REF --small REF

Four images, all made from fixed inputs so that the same arguments on the same machine give the
same layer digests and image IDs (no timestamps, owners or random seeds from the clock):

  base   4 layers of real files (read from /usr/share, /usr/bin, /usr/lib/x86_64-linux-gnu and
         /usr/lib, in sorted order, each file used once), about --layer-bytes each: compressible
         the way a real image is (docs, executables, shared libraries).
  inc    base plus one new layer: a file of --inc-bytes pseudo-random bytes.
  big    one layer: a file of --big-bytes pseudo-random bytes (incompressible).
  small  --small-layers layers, each one text file of about --small-bytes.

Pseudo-random bytes come from AES-128-CTR over zeros with a fixed key (`openssl enc`), so they
are the same on every run and every machine. Every tar entry has mtime 0, uid/gid 0 and no user
names; directories get mode 0755, files keep their permission bits.
"""

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

ROOTS = ["/usr/share", "/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib"]
KEY = "000102030405060708090a0b0c0d0e0f"
EPOCH = "1970-01-01T00:00:00Z"


class HashingWriter:
    """A write-only file that hashes what passes through (the layer's diff_id)."""

    def __init__(self, path):
        self.file = open(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.file.write(data)

    def close(self):
        self.file.close()


class Layer:
    """One layer tar being written under OUTDIR; `finish` names it by its diff_id."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.tmp = os.path.join(outdir, "layer.tmp")
        self.out = HashingWriter(self.tmp)
        self.tar = tarfile.open(fileobj=self.out, mode="w|", format=tarfile.PAX_FORMAT)
        self.dirs = set()

    def _info(self, name, kind, size=0, mode=0o644):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = size
        info.mode = mode
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def _parents(self, name):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d, tarfile.DIRTYPE, mode=0o755))

    def add(self, name, size, fileobj, mode=0o644):
        """Adds a regular file of exactly `size` bytes read from `fileobj`."""
        self._parents(name)
        self.tar.addfile(self._info(name, tarfile.REGTYPE, size, mode), fileobj)

    def finish(self):
        """Closes the tar; returns (diff_id hex, path relative to OUTDIR)."""
        self.tar.close()
        self.out.close()
        hexid = self.out.sha.hexdigest()
        os.makedirs(os.path.join(self.outdir, hexid), exist_ok=True)
        rel = f"{hexid}/layer.tar"
        os.replace(self.tmp, os.path.join(self.outdir, rel))
        return hexid, rel


def random_stream(iv):
    """A pipe of AES-128-CTR keystream (fixed key, this IV): deterministic random bytes."""
    return subprocess.Popen(
        ["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", KEY, "-iv", iv],
        stdin=open("/dev/zero", "rb"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def random_layer(outdir, name, size, iv):
    layer = Layer(outdir)
    proc = random_stream(iv)
    layer.add(name, size, proc.stdout)
    proc.kill()
    proc.wait()
    return layer.finish()


def real_files(root):
    """Regular, readable files under root in sorted order (no __pycache__): (path, size, mode)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK):
                yield path, st.st_size, stat.S_IMODE(st.st_mode)


def files_layer(outdir, index, target, used):
    """About `target` bytes of real files, starting from ROOTS[index], skipping used ones."""
    layer = Layer(outdir)
    total = 0
    roots = ROOTS[index:] + ROOTS[:index]
    for root in roots:
        for path, size, mode in real_files(root):
            if total >= target:
                break
            if path in used or size > target - total + (1 << 20):
                continue
            try:
                with open(path, "rb") as f:
                    layer.add(path.lstrip("/"), size, f, mode)
            except OSError:
                continue
            used.add(path)
            total += size
    if total < target // 2:
        sys.exit(f"mkimages: found only {total} bytes of files under {', '.join(ROOTS)}")
    return layer.finish()


class TextFile:
    """`size` bytes of numbered text lines, as a readable file object."""

    def __init__(self, seed, size):
        lines = []
        n = 0
        length = 0
        while length < size:
            line = f"small layer {seed} line {n}: the quick brown fox {n * 7919 % 10007}\n"
            lines.append(line)
            length += len(line)
            n += 1
        self.data = "".join(lines).encode()[:size]
        self.pos = 0

    def read(self, n=-1):
        end = len(self.data) if n < 0 else self.pos + n
        chunk = self.data[self.pos:end]
        self.pos += len(chunk)
        return chunk


def image(outdir, ref, layers, label):
    """Writes the config of an image made of `layers` [(diff_id hex, path)]; a manifest entry."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": EPOCH,
        "config": {"Env": ["PATH=/usr/bin"], "Labels": {"idpush.bench": label}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{h}" for h, _ in layers]},
        "history": [{"created": EPOCH, "created_by": f"bench {label} layer {i}"}
                    for i in range(len(layers))],
    }
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    name = hashlib.sha256(data).hexdigest() + ".json"
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
    return {"Config": name, "RepoTags": [ref], "Layers": [p for _, p in layers]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    for opt in ("layer-bytes", "inc-bytes", "big-bytes", "small-layers", "small-bytes"):
        p.add_argument("--" + opt, type=int, required=True)
    for opt in ("base", "inc", "big", "small"):
        p.add_argument("--" + opt, required=True, help="the image reference (name:tag)")
    a = p.parse_args()
    out = a.outdir
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)

    used = set()
    base = [files_layer(out, i, a.layer_bytes, used) for i in range(4)]
    inc = base + [random_layer(out, "bench/inc.bin", a.inc_bytes, "00000000000000000000000000000001")]
    big = [random_layer(out, "bench/random.bin", a.big_bytes, "00000000000000000000000000000002")]
    small = []
    for i in range(a.small_layers):
        layer = Layer(out)
        layer.add(f"bench/small/{i:03}.txt", a.small_bytes, TextFile(i, a.small_bytes))
        small.append(layer.finish())

    manifest = [
        image(out, a.base, base, "base"),
        image(out, a.inc, inc, "inc"),
        image(out, a.big, big, "big"),
        image(out, a.small, small, "small"),
    ]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main()
