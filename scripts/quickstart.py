"""End-to-end quickstart on the embedded default: a newcomer's first ten minutes with datavc.

Runs the real ``datavc`` command line in a fresh directory and prints every command
with its output: create a store and a repo, put a dataset, change it, see the diff and
the log, roll back, and see the old content come back; run a pipeline; then serve the
store on 127.0.0.1 and show a user with reader rights on one repo reading it and being
refused a write. Nothing outside the temporary
directory is touched (``--keep`` leaves it for you to explore).
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).with_name("datavc")


# Counts the words of each text file of its datum (one top-level folder per datum).
WORDCOUNT = """\
pipeline: {name: wordcount, description: "count words per file"}
input:
  pfs: {repo: texts, branch: main, glob: "/part-*"}
transform:
  image: python:3.12-slim
  cmd: ["sh", "-c", "cd \\"$DATAVC_IN/texts\\" && for f in */*.txt; do mkdir -p \\"$DATAVC_OUT/$(dirname $f)\\"; wc -w < \\"$f\\" > \\"$DATAVC_OUT/$f.count\\"; done"]
parallelism: 2
"""

# Adds every count up.
TOTAL = """\
pipeline: {name: total, description: "total word count"}
input:
  pfs: {repo: wordcount, glob: "/"}
transform:
  cmd: ["sh", "-c", "find \\"$DATAVC_IN/wordcount\\" -name '*.count' -exec cat {} + | awk '{s+=$1} END {print s}' > \\"$DATAVC_OUT/total\\""]
"""


def make_dataset(root: Path) -> None:
    rnd = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    for d in range(3):
        for f in range(4):
            p = root / f"part-{d}" / f"doc-{f}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(" ".join(rnd.choice(words) for _ in range(rnd.randint(20, 60))) + "\n")
    (root / "model.bin").write_bytes(rnd.randbytes(3 * 1024 * 1024))


def step(title: str) -> None:
    print(f"\n## {title}")


def run(
    *args: str,
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    code: int = 0,
    secret: bool = False,
) -> str:
    """Run ``datavc ARGS``, print it and its output; with ``secret``, stdout (a token) is not shown."""
    shown = " ".join(f"{k}={v}" for k, v in (env or {}).items() if k not in ("DATAVC_TOKEN", "AS"))
    who = f"[as {env['AS']}] " if env and "AS" in env else ""
    print(f"$ {who}" + (shown + " " if shown else "") + "datavc " + " ".join(shlex.quote(a) for a in args))
    full_env = {**os.environ, **{k: v for k, v in (env or {}).items() if k != "AS"}}
    proc = subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True, text=True, env=full_env)
    out = ("(a token, not shown here)\n" if secret else proc.stdout) + proc.stderr
    print("  " + out.rstrip().replace("\n", "\n  ") if out.strip() else "  (no output)")
    if check and proc.returncode != code:
        raise SystemExit(f"quickstart: 'datavc {args[0]}' exited {proc.returncode}, expected {code}")
    return proc.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_serving(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"quickstart: datavc serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"quickstart: datavc serve did not start:\n{log.read_text()}")


def server_section(work: Path) -> None:
    """Serve the store on 127.0.0.1; a user with reader rights on one repo can read it, not write it."""
    step("10. Serve the store: a reader can read a repo, and cannot write it")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    # --s3-port 0: the S3 gateway takes any free port, so a busy 8421 cannot stop the story.
    print(f"$ datavc serve --host 127.0.0.1 --port {port} --s3-port 0 &   (log: {log})")
    argv = [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--s3-port", "0"]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*argv, "--log-level", "warning"],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_serving(url, server, log)
        print("  " + log.read_text().strip().replace("\n", "\n  "))
        token_file = work / ".datavc" / "admin-token"
        admin = {"AS": "admin", "DATAVC_SERVER": url, "DATAVC_TOKEN": token_file.read_text().strip()}
        run("auth", "user", "create", "ann", cwd=work, env=admin)
        ann_token = run(
            "auth",
            "token",
            "create",
            "--user",
            "ann",
            "--name",
            "quickstart",
            cwd=work,
            env=admin,
            secret=True,
        )
        run("auth", "role", "grant", "texts", "ann", "reader", cwd=work, env=admin)
        ann = {"AS": "ann", "DATAVC_SERVER": url, "DATAVC_TOKEN": ann_token.strip()}
        run("auth", "whoami", cwd=work, env=ann)
        run("ls", "texts@main", cwd=work, env=ann)
        run("get", "texts@main:/part-1/doc-2.txt", cwd=work, env=ann)
        print("Writing needs the writer role: exit code 10 (forbidden)")
        run("put", "texts@main:/ann.txt", "extra.txt", cwd=work, env=ann, code=10)
        run("ls", "total@main", cwd=work, env=ann, code=10)
        run("doctor", cwd=work, env=ann)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"$ kill %1\n  (the server stopped on SIGTERM, exit status {server.returncode})")


def main() -> int:
    keep = "--keep" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="datavc-quickstart-"))
    try:
        data = work / "dataset"
        make_dataset(data)
        print(f"A sample dataset in {data}: 12 text files in 3 folders and a 3 MiB model.bin")

        step("1. Create an embedded store (SQLite + local objects) and a repo")
        run("init", ".", cwd=work)
        run("repo", "create", "texts", "-d", "documents for the word-count demo", cwd=work)

        step("2. Put the dataset in: one commit")
        run("put", "texts@main:/", "dataset", "-m", "first version", cwd=work)
        run("ls", "texts@main", "-r", cwd=work)

        step("3. Change it: edit a file, add one, delete one, grow the model")
        (data / "part-1" / "doc-2.txt").write_text("this document was rewritten\n")
        (data / "part-3").mkdir()
        (data / "part-3" / "new.txt").write_text("a brand new document\n")
        with open(data / "model.bin", "ab") as f:
            f.write(os.urandom(512 * 1024))
        run("put", "texts@main:/", "dataset", "-m", "second version", cwd=work)
        run("rm", "texts@main:/part-0/doc-0.txt", "-m", "drop a stale document", cwd=work)
        run("tag", "create", "texts@main~2", "v1", cwd=work)

        step("4. What changed, and when")
        run("diff", "texts@v1", "texts@main", cwd=work)
        run("log", "texts@main", cwd=work)

        step("5. Roll back to v1: a new commit with v1's content, history kept")
        run("get", "texts@main:/part-1/doc-2.txt", cwd=work)
        run("rollback", "texts@main", "--to", "v1", cwd=work)
        run("get", "texts@main:/part-1/doc-2.txt", cwd=work)
        run("diff", "texts@v1", "texts@main", cwd=work)
        run("log", "texts@main", "-n", "2", cwd=work)
        run("reflog", "texts@main", cwd=work)

        step("6. Work on files in a plain directory, and check the store")
        run("checkout", "texts@main", "wc", cwd=work)
        (work / "wc" / "part-2" / "doc-1.txt").write_text("edited in the working copy\n")
        run("status", "wc", cwd=work)
        run("commit", "wc", "-m", "edit in a working copy", cwd=work)
        run("fsck", cwd=work)

        step("7. A two-step pipeline: word counts per file, then a total")
        (work / "wordcount.yaml").write_text(WORDCOUNT)
        (work / "total.yaml").write_text(TOTAL)
        print(f"wordcount.yaml:\n  {WORDCOUNT.strip().replace(chr(10), chr(10) + '  ')}")
        # An embedded store runs the jobs a command triggers before it returns (pipelines.run:
        # inline); on a shared store 'datavc daemon' runs them.
        run("pipeline", "create", "-f", "wordcount.yaml", cwd=work)
        run("pipeline", "create", "-f", "total.yaml", cwd=work)
        run("get", "total@main:/total", cwd=work)
        run("ls", "wordcount@main", "-r", cwd=work)

        step("8. New data in: only the new file's datum runs")
        (work / "extra.txt").write_text("six new words for the count\n")
        out = run("put", "texts@main:/part-3/extra.txt", "extra.txt", "-m", "one more document", cwd=work)
        # The commit's id is its commit set's: every output commit it caused downstream.
        run("commit-set", "inspect", out.split()[2].rstrip(":"), cwd=work)
        run("job", "list", "-n", "2", cwd=work)
        run("get", "total@main:/total", cwd=work)
        run("lineage", "total@main:/total", cwd=work)
        run("lineage", "wordcount@main:/part-3/extra.txt.count", cwd=work)

        step("9. Roll the input back: the outputs return without recomputing anything")
        run("rollback", "texts@main", "--to", "main~1", cwd=work)
        run("job", "list", "-n", "2", cwd=work)
        run("get", "total@main:/total", cwd=work)
        run("lineage", "texts@main", "--downstream", "--format", "mermaid", cwd=work)

        server_section(work)

        print(f"\nquickstart: done. Everything lived in {work}" + (" (kept)" if keep else " (removed)"))
        print("Next: ./scripts/test.sh runs the tests; docs/cli.md lists every command.")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
