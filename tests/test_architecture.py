"""The shape of the package: imports point one way, nothing outside ``wnrl`` is installed, the
registry is the one source of names, config validation needs neither torch nor SB3."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# nn ← policies ← agents ← train ← harness ← cli; the leaves registry, _lazy ← config ← envs may be
# imported by everyone (envs takes the env-id names, env_slug, from config).
LAYERS = {"nn": 1, "policies": 2, "agents": 3, "train": 4, "harness": 5, "cli": 6}
LEAVES = {"registry": 0, "_lazy": 0, "config": 1, "envs": 2}


def _package_of(path: Path) -> str:
    """``wnrl/harness/api.py`` → ``harness``; ``agents/dqn.py`` → ``agents``."""
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
    if here in ("registry", "_lazy", "wnrl"):
        return False
    if here in LEAVES:
        return LEAVES.get(target, 99) < LEAVES[here]
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


# Inside the harness: stats ← sweeps ← run ← reports ← comparison ← tune ← api (← cli, outside).
# A module may import its own sub-package and the ones below; ``wnrl/harness/__init__.py`` names
# its lazy exports as strings and imports none of them. ``comparison`` (a sweep run, then its
# report) sits above reports and below tune, whose confirmation runs two sweeps through it.
HARNESS_LAYERS = {"stats": 1, "sweeps": 2, "run": 3, "reports": 4, "comparison": 5, "tune": 6, "api": 7}


def _harness_part(path: Path) -> str | None:
    """``wnrl/harness/stats/seeds.py`` → ``stats``; ``wnrl/harness/api.py`` → ``api``; ``None``
    outside the harness and for the package's ``__init__``."""
    rel = path.relative_to(ROOT).parts
    if rel[:2] != ("wnrl", "harness") or rel[2:] == ("__init__.py",):
        return None
    return rel[2].removesuffix(".py")


def _module_of(path: Path) -> str:
    """``wnrl/harness/run/task.py`` → ``wnrl.harness.run.task``; ``agents/dqn.py`` → ``wnrl.agents.dqn``;
    a package's ``__init__.py`` → the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "agents":
        parts = ["wnrl", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _lazy_exports(package: str) -> dict[str, str]:
    """A package's lazy exports (``_EXPORTS`` in its ``__init__.py``) as ``name → module``: an
    import of such a name is an import of the module that defines it."""
    init = ROOT / Path(*package.split(".")) / "__init__.py"
    if not init.is_file():
        return {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            exports = ast.literal_eval(node.value)
            return {name: module for module, names in exports.items() for name in names}
    return {}


def _imported_modules(path: Path, known: set[str]) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``wnrl`` module a file imports (lazily too): ``from a.b import c``
    is ``a.b.c`` when that is a module, the module a lazy export ``c`` of ``a.b`` names, else ``a.b``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("wnrl.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("wnrl"):
            lazy = _lazy_exports(node.module)
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.append((node.lineno, sub if sub in known else lazy.get(a.name, node.module)))
    return [(line, m) for line, m in out if m in known]


def harness_upward_imports(files: list[Path]) -> list[str]:
    """Every import inside the harness that points to a higher sub-package, as ``file:line: a imports b``."""
    out: list[str] = []
    known = {_module_of(p) for p in [*_sources(), *files]}
    for path in files:
        here = _harness_part(path)
        if here is None:
            continue
        for line, module in _imported_modules(path, known):
            parts = module.split(".")
            if parts[:2] != ["wnrl", "harness"] or len(parts) < 3:
                continue
            target = parts[2]
            if HARNESS_LAYERS.get(target, 99) > HARNESS_LAYERS.get(here, 0):
                out.append(f"{path.relative_to(ROOT)}:{line}: harness.{here} imports harness.{target}")
    return list(dict.fromkeys(out))


def import_cycles(files: list[Path]) -> list[list[str]]:
    """The import cycles between modules (imports inside functions count: a cycle is a design
    knot even when Python can load it), each as the modules on it, first one repeated last."""
    known = {_module_of(p) for p in _sources()} | {_module_of(p) for p in files}
    graph = {_module_of(p): sorted({m for _, m in _imported_modules(p, known)} - {_module_of(p)}) for p in files}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_harness_imports_point_down() -> None:
    assert harness_upward_imports(_sources()) == []


def test_no_import_cycles() -> None:
    assert import_cycles(_sources()) == []


def test_the_harness_checks_catch_an_upward_import_and_a_cycle() -> None:
    """Both checks can fail: a stats module importing the report side is reported (also through
    the package's lazy exports: ``from wnrl.harness import compare`` is an import of api), and so is a
    cycle of the shape the harness had (api imported tune.confirm inside a function, and
    confirm imported api back)."""
    stats_probe = ROOT / "wnrl" / "harness" / "stats" / "_probe.py"
    confirm_probe = ROOT / "wnrl" / "harness" / "tune" / "_probe_confirm.py"
    api_probe = ROOT / "wnrl" / "harness" / "_probe_api.py"
    stats_probe.write_text(
        "def f():\n    from wnrl.harness.reports import rows\n    from wnrl.harness import compare\n"
    )
    confirm_probe.write_text("from wnrl.harness._probe_api import compare\n")
    api_probe.write_text("def compare():\n    from wnrl.harness.tune._probe_confirm import compare\n")
    try:
        up = harness_upward_imports([stats_probe, confirm_probe])
        cycles = import_cycles([*_sources(), stats_probe, confirm_probe, api_probe])
    finally:
        for probe in (stats_probe, confirm_probe, api_probe):
            probe.unlink()
    assert up == [
        "wnrl/harness/stats/_probe.py:2: harness.stats imports harness.reports",
        "wnrl/harness/stats/_probe.py:3: harness.stats imports harness.api",
        "wnrl/harness/tune/_probe_confirm.py:1: harness.tune imports harness._probe_api",
    ]
    assert ["wnrl.harness._probe_api", "wnrl.harness.tune._probe_confirm", "wnrl.harness._probe_api"] in cycles


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


def _python(code: str, arg: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (``sys.argv[1]`` is ``arg``), which must exit 0."""
    proc = subprocess.run([sys.executable, "-c", code, str(arg)], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_config_validation_imports_neither_torch_nor_sb3(tmp_path: Path) -> None:
    """A config error is answered before torch is imported (``wnrl train bad.yaml``)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {id: CartPole-v1}\nagent: {algo: ppo, norm: weigth}\ntrain: {total_timesteps: 10}\n")
    code = (
        "import sys\nfrom wnrl.cli import main\nrc = main(['train', sys.argv[1]])\n"
        "assert rc == 2, rc\nheavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = _python(code, bad, tmp_path)
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
    _python(code, cfg, tmp_path)


def test_sweep_and_tune_validation_import_neither_torch_nor_sb3(tmp_path: Path) -> None:
    """Reading and validating a sweep or a tune file (every shipped one, and a bad one of each) is
    done before torch, SB3 or gymnasium is imported (the agent names come from
    :mod:`wnrl.harness.sweeps.agent_args`, the run ids' env part from :mod:`wnrl.config.names`).
    With an SB3 release other than the one the name tables were read from, validation imports SB3
    (the tables are not trusted then): the messages must be the same either way."""
    (tmp_path / "bad_sweep.yaml").write_text(
        "base: {env: {id: CartPole-v1}, agent: {algo: ppo, hyperparams: {gamma: 2.0}}}\n"
        "grid: {agent.norm: [none, weight]}\nseeds: 2\n"
    )
    (tmp_path / "bad_tune.yaml").write_text(
        "base: {env: {id: CartPole-v1}, agent: {algo: ppo}, train: {total_timesteps: 1000}}\n"
        "variants: {agent.norm: [none, weigth]}\nbudget: 2\n"
    )
    code = (
        "import sys\nfrom pathlib import Path\nfrom wnrl.config import ConfigError\n"
        "from wnrl.harness.sweeps.spec import load_sweep\nfrom wnrl.harness.tune.spec import load_tune\n"
        "for path in sorted(Path(sys.argv[1], 'configs', 'sweeps').glob('*.yaml')):\n    load_sweep(path)\n"
        "for path in sorted(Path(sys.argv[1], 'configs', 'tune').glob('*.yaml')):\n    load_tune(path)\n"
        "for load, bad in ((load_sweep, 'bad_sweep.yaml'), (load_tune, 'bad_tune.yaml')):\n"
        "    try:\n        load(bad)\n    except ConfigError as e:\n        print(e)\n"
        "    else:\n        raise AssertionError(bad)\n"
        "from wnrl.harness.sweeps.agent_args import tables_current\n"
        "heavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium') if m in sys.modules]\n"
        "assert not heavy or not tables_current(), heavy\n"
    )
    proc = _python(code, ROOT, tmp_path)
    assert "hyperparams.gamma: must be a number in [0, 1], got 2.0" in proc.stdout
    assert "agent.norm: unknown norm 'weigth'; did you mean 'weight'?" in proc.stdout
