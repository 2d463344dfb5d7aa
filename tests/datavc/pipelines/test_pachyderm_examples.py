"""Pachyderm's published examples, run on datavc with their published specs.

The specs in ``pachyderm_examples/`` are Pachyderm's files, verbatim (see its README).
What changes is only what the example images bake in, and the ``/pfs`` root:

- programs the images carry (``/edges.py`` with OpenCV, ImageMagick's ``montage``, the
  word count ``app``) are small stand-ins on ``PATH`` (or in ``cmd``) that do the same
  to the files; the joins and group examples run Pachyderm's own ``main.py``, verbatim
  but for the ``/pfs`` root;
- ``/pfs/<input>`` and ``/pfs/out`` become ``$DATAVC_IN/<input>`` and ``$DATAVC_OUT``,
  and ``/tmp/`` a per-datum directory: that is what the sandbox (issue 16) provides by
  mounting them; without it, the local executor gives the same directories under
  these variables.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datavc.client import Client
from datavc.pipelines.spec import PipelineSpec
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, run_ok

EXAMPLES = Path(__file__).parent / "pachyderm_examples"

MONTAGE = """\
import sys
args, files, i = sys.argv[1:-1], [], 0
while i < len(args):  # montage OPTIONS... FILES... OUT: the stand-in concatenates FILES
    if args[i] in ("-background", "-geometry"):
        i += 2
        continue
    if not args[i].startswith("-"):
        files.append(args[i])
    i += 1
with open(sys.argv[-1], "wb") as out:
    for f in files:
        out.write(open(f, "rb").read())
"""

EDGES = """\
import os
# What /edges.py does with OpenCV, as bytes: one '<stem>.png' edge map per image.
root = os.environ["DATAVC_IN"] + "/images"
for dirpath, dirs, files in os.walk(root):
    for file in files:
        data = open(os.path.join(dirpath, file), "rb").read()
        with open(os.path.join(os.environ["DATAVC_OUT"], os.path.splitext(file)[0] + ".png"), "wb") as f:
            f.write(b"edges(" + data + b")")
"""

WORDCOUNT_APP = """\
import os, re, sys
# The word count image's Go 'app INPUT_DIR OUTPUT_DIR', with /pfs pointed at $DATAVC_IN.
def local(p):
    if p.rstrip("/") == "/pfs/out":
        return os.environ["DATAVC_OUT"]
    return os.environ["DATAVC_IN"] + p[len("/pfs"):] if p.startswith("/pfs/") else p
src, dst = local(sys.argv[1]), local(sys.argv[2])
counts = {}
for dirpath, dirs, files in os.walk(src):
    for name in files:
        for word in open(os.path.join(dirpath, name)).read().split():
            for w in re.sub("[^A-Za-z]+", " ", word).lower().split(" "):
                if w:
                    counts[w] = counts.get(w, 0) + 1
out = os.path.join(dst, os.environ["PACH_DATUM_ID"])
os.makedirs(out, exist_ok=True)
for w, n in counts.items():
    open(os.path.join(out, w), "w").write(f"{n}\\n")
"""


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def local_pfs(text: str) -> str:
    """A shell line with the sandbox's mounts as the local executor's directories."""
    return text.replace("/pfs/out", "$DATAVC_OUT").replace("/pfs/", "$DATAVC_IN/").replace("/tmp/", "./tmp-")


def baked(spec: dict[str, Any], program: Path | None = None) -> dict[str, Any]:
    """``spec`` with its image's program (``program``) and the sandbox's paths made local."""
    transform = dict(spec["transform"])
    if program is not None:
        transform["cmd"] = [sys.executable, str(program)]
    if "stdin" in transform:
        transform["stdin"] = [local_pfs(line) for line in transform["stdin"]]
    return {**spec, "transform": transform}


@pytest.fixture
def image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """Install a program as the image would: ``image(name, python source)`` -> its path, on PATH."""
    bin_dir = tmp_path / "image-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def install(name: str, source: str) -> Path:
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{source}")
        path.chmod(0o755)
        return path

    return install


def pachyderm_program(tmp_path: Path, name: str) -> Path:
    """One of Pachyderm's own example programs with its ``/pfs`` root made local."""
    src = (EXAMPLES / f"{name}.py.src").read_text()
    src = src.replace('"/pfs/out', 'os.environ["DATAVC_OUT"] + "')
    src = src.replace('"/pfs/', 'os.environ["DATAVC_IN"] + "/')
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    return path


def put(c: Client, repo: str, branch: str, files: dict[str, bytes]) -> None:
    with c.commit(repo, branch) as tx:
        for path, data in files.items():
            tx.put_file(path, data)


def test_every_published_spec_parses_unchanged() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        assert PipelineSpec.from_file(path).name == load(path.name)["pipeline"]["name"], path.name


def test_opencv_edges_and_montage(tmp_path: Path, image: Callable[[str, str], Path]) -> None:
    edges_py = image("edges.py", EDGES)
    image("montage", MONTAGE)
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        put(c, "images", "main", {"/liberty.jpg": b"L", "/kitten.jpg": b"K"})
        c.create_pipeline(baked(load("edges.pipeline.json"), edges_py))
        c.create_pipeline(baked(load("montage.pipeline.json")))
        run_ok(c)
        assert files_of(c, "edges") == {"/kitten.png": b"edges(K)", "/liberty.png": b"edges(L)"}
        # find ... | sort: the edges directory sorts before images
        assert files_of(c, "montage") == {"/montage.png": b"edges(K)edges(L)KL"}
        put(c, "images", "main", {"/robot.jpg": b"R"})
        run_ok(c)
        assert last_job(c, "edges").datums_processed == 1  # one new image, one datum
        assert files_of(c, "montage") == {"/montage.png": b"edges(K)edges(L)edges(R)KLR"}


def test_opencv_union_reads_both_projects_under_one_name(
    tmp_path: Path, image: Callable[[str, str], Path]
) -> None:
    edges_py = image("edges.py", EDGES)
    with Client.init(tmp_path / "store") as c:
        # input.pfs.project "staging" reads the datavc repo "staging-images", still under /pfs/images
        for repo in ("images", "staging-images"):
            c.create_repo(repo)
        put(c, "images", "main", {"/a.jpg": b"A"})
        put(c, "staging-images", "main", {"/b.jpg": b"B"})
        c.create_pipeline(baked(load("edges-union.pipeline.json"), edges_py))
        run_ok(c)
        assert files_of(c, "edges") == {"/a.png": b"edges(A)", "/b.png": b"edges(B)"}


STORES = {
    f"/STOREID{n}.txt": json.dumps({"storeid": n, "name": name, "address": {"zipcode": zipcode}}).encode()
    for n, name, zipcode in ((1, "Main St", "90210"), (2, "Harbor", "10001"), (3, "Airport", "10001"))
}


def test_inner_and_outer_joins(tmp_path: Path) -> None:
    inner = pachyderm_program(tmp_path, "joins_inner_main")
    outer = pachyderm_program(tmp_path, "joins_outer_main")
    with Client.init(tmp_path / "store") as c:
        for repo in ("stores", "purchases", "returns"):
            c.create_repo(repo)
            c.create_branch(repo, "master")
        put(c, "stores", "master", STORES)
        put(c, "purchases", "master", {"/P1_STOREID1.txt": b"SKU|1\n", "/P2_STOREID2.txt": b"SKU|2\n"})
        # a return at store 1, one at store 4 (no such store); store 2 and 3 have none
        put(c, "returns", "master", {"/R1_STOREID1.txt": b"SKU|r1\n", "/R4_STOREID4.txt": b"SKU|r4\n"})
        c.create_pipeline(baked(load("inner_join.pipeline.json"), inner))
        c.create_pipeline(baked(load("outer_join.pipeline.json"), outer))
        run_ok(c)
        assert files_of(c, "inner_join") == {
            "/90210/P1_STOREID1.txt": b"\nPurchase at store: 1 - Main St \nSKU|1\n",
            "/10001/P2_STOREID2.txt": b"\nPurchase at store: 2 - Harbor \nSKU|2\n",
        }
        # Full outer join: matched (store 1), stores without returns (2, 3), a return without a store (4)
        assert files_of(c, "outer_join") == {
            "/90210/R1_STOREID1.txt": b"\nReturn at store: 1 - Main St \nSKU|r1\n",
            "/10001/STOREID2.txt": b"\nReturn at store: 2 - Harbor \n",
            "/10001/STOREID3.txt": b"\nReturn at store: 3 - Airport \n",
            "/UNKNOWN/R4_STOREID4.txt": b"\nThis return store does not exist \nSKU|r4\n",
        }
        assert last_job(c, "outer_join").datums_total == 4


def test_group_retail_and_lab(tmp_path: Path) -> None:
    group = pachyderm_program(tmp_path, "group_main")
    with Client.init(tmp_path / "store") as c:
        for repo in ("stores", "purchases", "returns", "labresults"):
            c.create_repo(repo)
            c.create_branch(repo, "master")
        put(c, "stores", "master", {k: v for k, v in STORES.items() if "3" not in k})
        row = "SKU|x|y|{price}|z|{qty}\n"
        put(
            c,
            "purchases",
            "master",
            {
                "/P1_STOREID1.txt": row.format(price=10, qty=2).encode(),
                "/P2_STOREID1.txt": row.format(price=5, qty=1).encode(),
                "/P3_STOREID2.txt": row.format(price=3, qty=3).encode(),
            },
        )
        put(c, "returns", "master", {"/R1_STOREID1.txt": row.format(price=5, qty=1).encode()})
        put(
            c,
            "labresults",
            "master",
            {"/T1-CLIA11.txt": b"t1", "/T2-CLIA11.txt": b"t2", "/T3-CLIA22.txt": b"t3"},
        )
        c.create_pipeline(baked(load("retail_group.pipeline.json"), group))
        c.create_pipeline(baked(load("lab_group_by_hospital.pipeline.json")))
        run_ok(c)
        revenue = files_of(c, "group_store_revenue")
        assert revenue == {
            "/1.txt": b"\nStore: 1 - Main St \n\nORDER_AMOUNT|25.0|RETURN_AMOUNT|5.0|NET_AMOUNT|20.0\n",
            "/2.txt": b"\nStore: 2 - Harbor \n\nORDER_AMOUNT|9.0|RETURN_AMOUNT|0.0|NET_AMOUNT|9.0\n",
        }
        assert last_job(c, "group_store_revenue").datums_total == 2  # one datum per store id
        assert files_of(c, "group_by_hospital") == {
            "/11/T1-CLIA11.txt": b"t1",
            "/11/T2-CLIA11.txt": b"t2",
            "/22/T3-CLIA22.txt": b"t3",
        }


def test_word_count_map_and_reduce(tmp_path: Path, image: Callable[[str, str], Path]) -> None:
    image("app", WORDCOUNT_APP)
    with Client.init(tmp_path / "store") as c:
        # map's cmd names /pfs paths, which turns the sandbox on; but the stand-in for the
        # image's `app` lives in this test's temporary directory, which the sandbox hides,
        # and maps /pfs itself: run it unsandboxed (test_sandbox.py runs /pfs for real).
        c.context.executor_settings = {"sandbox": "off"}
        # what the scraper pipeline (wget from the internet) writes: /<url file>/<page>
        c.create_repo("scraper")
        pages = {"/Wikipedia/Main_Page.html": b"the cat. The dog", "/Github/x.html": b"a cat"}
        put(c, "scraper", "main", pages)
        c.create_pipeline(baked(load("map.pipeline.json")))
        c.create_pipeline(baked(load("reduce.pipeline.json")))
        run_ok(c)
        out = files_of(c, "reduce")
        # `find /tmp/out/` lists the directory too: the published script writes an empty
        # sum for it (named "out" in Pachyderm, "tmp-out" here where /tmp/ is ./tmp-)
        assert out.pop("/tmp-out") == b"\n"
        assert out == {"/the": b"2\n", "/cat": b"2\n", "/dog": b"1\n", "/a": b"1\n"}
