"""The sweep benchmark script kept working: a tiny run (4 sets, 2 days) on 1 and 2 workers, in the
default suite. It checks what the script reports is there and consistent, never how fast it was."""

from __future__ import annotations

from tests.bench import bench_sweep


def test_the_sweep_benchmark_reports_wall_cpu_speed_up_and_memory(capsys) -> None:
    results = bench_sweep.main(["--sets", "4", "--days", "2", "--workers", "1,2"])
    assert [r["workers"] for r in results] == [1, 2]
    for r in results:
        assert r["sets"] == 4 and r["rows"] == 4  # the whole grid ran, one row per set
        assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["peak_rss_mb"] > 0
        assert 0 < r["parent_cpu_s"] <= r["cpu_s"]  # the sweep process is one of the tree
        assert set(r["best"]) == {"tp", "sl"}
    assert results[0]["speed_up"] == 1.0
    assert results[1]["speed_up"] == round(results[0]["wall_s"] / results[1]["wall_s"], 2)
    assert results[0]["best"] == results[1]["best"]  # the same sweep, the same winner
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == [
        "workers",
        "sets",
        "days",
        "wall",
        "s",
        "sets/s",
        "CPU",
        "s",
        "CPU",
        "s/set",
        "parent",
        "CPU",
        "s",
        "speed-up",
        "peak",
        "RSS",
        "MB",
    ]
    assert [line.split()[0] for line in out[2:]] == ["1", "2"]


def test_the_set_cost_benchmark_reports_each_set_after_a_warm_up(capsys) -> None:
    from tests.bench import bench_sweep_set

    r = bench_sweep_set.main(["--sets", "2", "--days", "2"])
    assert len(r["cpu_s"]) == len(r["trades"]) == 2  # the warm-up set is not counted
    assert all(t > 0 for t in r["trades"]) and r["best_s"] == min(r["cpu_s"]) > 0
    assert r["engine"].endswith("engine")
    assert capsys.readouterr().out.strip().startswith('{"engine"')
