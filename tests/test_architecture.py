"""The shape of the package: imports point one way, nothing outside ``wnrl`` is installed, the
registry is the one source of names, config validation needs neither torch nor SB3."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# nn ← policies ← agents ← train ← harness ← cli; registry, config and envs are leaves.
LAYERS = {"nn": 1, "policies": 2, "agents": 3, "train": 4, "harness": 5, "cli": 6}
LEAVES = {"registry", "config", "envs"}


def _package_of(path: Path) -> str:
    """``wnrl/harness/report.py`` → ``harness``; ``agents/dqn.py`` → ``agents``."""
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "agents":
        return "agents"
    return rel.parts[1].removesuffix(".py") if len(rel.parts) > 1 else "wnrl"


def _wnrl_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, package)`` of every ``wnrl.<package>`` import in a file, wherever it is (lazy
    imports inside functions count too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "wnrl" else [f"wnrl.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "wnrl" and len(parts) > 1:
                out.append((node.lineno, parts[1]))
    return out


def _sources() -> list[Path]:
    return sorted([*(ROOT / "wnrl").rglob("*.py"), *(ROOT / "agents").rglob("*.py")])


def allowed(here: str, target: str) -> bool:
    """Whether package ``here`` may import package ``target``."""
    if target == here:
        return True
    if here in ("registry", "wnrl"):
        return False
    if here in LEAVES:
        return target == "registry"
    return target in LEAVES or LAYERS.get(target, len(LAYERS) + 1) < LAYERS[here]


def upward_imports(files: list[Path]) -> list[str]:
    """Every import that points the wrong way, as ``file:line: a imports b``."""
    return [
        f"{path.relative_to(ROOT)}:{line}: {_package_of(path)} imports {target}"
        for path in files
        for line, target in _wnrl_imports(path)
        if not allowed(_package_of(path), target)
    ]


def test_no_upward_imports() -> None:
    assert upward_imports(_sources()) == []


def test_the_import_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: a policies module importing the harness is reported."""
    fake = ROOT / "wnrl" / "policies" / "_upward_probe.py"
    fake.write_text("def f():\n    from wnrl.harness import stats\n    import wnrl.train.run\n")
    try:
        bad = upward_imports([fake])
    finally:
        fake.unlink()
    assert len(bad) == 2 and "policies imports harness" in bad[0] and "policies imports train" in bad[1]


def test_only_wnrl_is_installed() -> None:
    """No top-level ``agents`` (openai-agents and the PyPI package ``agents`` install that
    name): the installed distribution's files all live under ``wnrl/`` or its metadata."""
    dist = metadata.distribution("wnrl")
    top = (dist.read_text("top_level.txt") or "").split()
    assert top == ["wnrl"], top
    import wnrl.agents

    assert Path(wnrl.agents.__file__).resolve() == ROOT / "agents" / "__init__.py"
    listed = (dist.read_text("RECORD") or "").splitlines()
    assert not any(line.startswith("agents/") for line in listed)  # a regular (wheel) install


def test_no_top_level_agents_is_importable_outside_the_checkout(tmp_path: Path) -> None:
    """Whatever the install mode (wheel or editable, whose finder maps names to folders), a
    process outside the repository finds no top-level ``agents`` module, and does find
    ``wnrl.agents``."""
    code = "import importlib.util as u; print(u.find_spec('agents') is None, u.find_spec('wnrl.agents') is not None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["True", "True"], out


def test_every_package_folder_is_installed() -> None:
    """pyproject lists the packages explicitly (package-dir maps ``agents/`` to ``wnrl.agents``
    and ``configs/`` to ``wnrl.configs``): a new folder under ``wnrl/`` must be added there."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        "wnrl." + ".".join(p.parent.relative_to(ROOT / "wnrl").parts) for p in (ROOT / "wnrl").rglob("__init__.py")
    }
    on_disk = {p.rstrip(".") for p in on_disk} | {"wnrl.agents", "wnrl.configs"}
    assert listed == on_disk


def test_config_validation_imports_neither_torch_nor_sb3(tmp_path: Path) -> None:
    """A config error is answered before torch is imported (``wnrl train bad.yaml``)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {id: CartPole-v1}\nagent: {algo: ppo, norm: weigth}\ntrain: {total_timesteps: 10}\n")
    code = (
        "import sys\nfrom wnrl.cli import main\nrc = main(['train', sys.argv[1]])\n"
        "assert rc == 2, rc\nheavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "agent.norm: unknown norm 'weigth'; did you mean 'weight'?" in proc.stderr


@pytest.mark.parametrize("module", ["wnrl.registry", "wnrl.config", "wnrl.train.record", "wnrl.cli"])
def test_light_modules_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}\nassert 'torch' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_works_beside_another_top_level_agents_package(tmp_path: Path) -> None:
    """openai-agents (and the PyPI package ``agents``) install a top-level ``agents``: with one
    first on the path, ``wnrl train`` still runs (wnrl's agents live in ``wnrl.agents``)."""
    other = tmp_path / "site" / "agents"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('this is openai-agents, not wnrl')\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "env: {id: CartPole-v1}\nagent: {algo: ppo, net_arch: [8], hyperparams: {n_steps: 64, "
        "batch_size: 64, n_epochs: 1}}\ntrain: {total_timesteps: 64, eval_freq: 0, "
        "eval_episodes: 1, device: cpu}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run(
        [sys.executable, "-m", "wnrl.cli", "train", str(cfg), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "result.json").is_file()


def test_argparse_lives_in_the_cli_only() -> None:
    """Every parser of ``wnrl`` is in :mod:`wnrl.cli` (the harness had a second one for tune)."""
    users = [
        str(path.relative_to(ROOT))
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if (isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.module == "argparse")
    ]
    assert sorted(set(users)) == ["wnrl/cli.py"]


def test_train_and_eval_import_nothing_of_the_harness(tmp_path: Path) -> None:
    """``wnrl train`` and ``wnrl eval`` run one agent: the sweep, statistics and tuning code is
    never imported (it had been, for the SIGTERM handler)."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "env: {id: CartPole-v1}\nagent: {algo: ppo, net_arch: [8], hyperparams: {n_steps: 64, "
        "batch_size: 64, n_epochs: 1}}\ntrain: {total_timesteps: 64, eval_freq: 0, "
        "eval_episodes: 1, device: cpu}\n"
    )
    code = (
        "import sys\nfrom wnrl.cli import main\n"
        "assert main(['train', sys.argv[1], '--out', 'run']) == 0\n"
        "assert main(['eval', 'run', '--episodes', '1']) == 0\n"
        "harness = sorted(m for m in sys.modules if m.startswith('wnrl.harness'))\nassert not harness, harness\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
