"""The benchmark compares like with like: its NumPy scan ranks exactly as the matcher does."""

from bench import agreement, data, inprocess, numpy_scan


def test_numpy_scan_returns_the_matchers_top_k_for_the_same_needs() -> None:
    dataset = data.load(seed=7, province="51", size=2000, queries=50)
    ranker, build = inprocess.build_ranker(dataset.resources)
    _, reference = inprocess.measure(ranker, dataset.needs, sample=50, warmup=0)
    arrays = numpy_scan.ResourceArrays(dataset.resources)
    _, scanned = numpy_scan.measure(arrays, dataset.needs, ranker.params, sample=50)

    result = agreement.compare(reference, scanned)

    assert build.resources == 2000
    assert sum(1 for answer in reference if answer) >= 25  # most needs find something
    assert result.identical == 50, result.first_disagreement


def test_the_same_seed_gives_the_same_province() -> None:
    first = data.load(seed=3, province="51", size=500, queries=20)
    again = data.load(seed=3, province="51", size=500, queries=20)

    assert first.resources == again.resources
    assert first.needs == again.needs
    assert len({r.adcodes[0] for r in first.resources if r.adcodes}) > 100  # many counties
