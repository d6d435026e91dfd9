from monas.search.evaluation import Evaluation
from monas.search.plot import RunLabels, pareto_figure, plot_front_progress, run_labels


def _evaluation(error, macs, generation=1, status="ok"):
    return Evaluation(f"a{error}-{macs}-{generation}", [0], {"error": error, "macs": macs, "params": macs // 10}, 0.1, generation, status)


# two networks tie at (2 M MACs, 4 %); one more front member; two dominated
TIED = [_evaluation(5.0, 1_000_000), _evaluation(4.0, 2_000_000), _evaluation(4.0, 2_000_000, 2),
        _evaluation(6.0, 3_000_000), _evaluation(5.0, 2_500_000, 2)]


def test_run_labels_name_the_estimator_space_dataset_and_folder():
    record = {"config": {"space": "nb201", "dataset": "digits", "estimator": "rwe"}, "estimate": {"error_in_percent": True}}
    assert run_labels(record, "runs/quickstart") == RunLabels("nb201 on digits, run runs/quickstart", "estimated error (%), rwe")
    record["estimate"]["error_in_percent"] = False
    assert run_labels(record, "x").error == "estimated score, rwe (lower is better)"


def test_pareto_figure_labels_axes_and_shows_tied_members():
    labels = RunLabels("darts on digits, run runs/x", "estimated error (%), rwe")
    figure = pareto_figure(TIED, ["error", "macs", "params"], labels)
    assert figure._suptitle.get_text() == labels.title
    macs_ax, params_ax = figure.axes
    assert macs_ax.get_ylabel() == labels.error and macs_ax.get_xlabel() == "MACs per image (millions)"
    assert params_ax.get_xlabel() == "parameters (millions)"
    assert [t.get_text() for t in macs_ax.get_legend().get_texts()] == ["evaluated (5)", "front (3 networks at 2 points)"]
    assert [a.get_text() for a in macs_ax.texts] == ["x2"]  # the tie is marked where it is drawn
    figure.clf()


def test_earlier_fronts_are_drawn_above_later_ones():
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    plot_front_progress(ax, TIED)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["gen 1"].get_zorder() > lines["gen 2"].get_zorder()
    assert lines["gen 1"].get_linewidth() < lines["gen 2"].get_linewidth()  # the later one shows around it
    plt.close(figure)


def test_networks_beyond_the_bounds_are_crosses_and_latency_is_in_milliseconds():
    timed = [Evaluation(e.arch, e.genome, {**e.objectives, "latency": e.objectives["macs"] / 1e5}, 0.1, e.generation)
             for e in TIED]
    figure = pareto_figure(timed[:3], ["error", "latency"], outside=timed[3:])
    (ax,) = figure.axes
    assert ax.get_xlabel() == "latency per batch (ms)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "within the bounds (3)", "outside the bounds (2)", "front (3 networks at 2 points)"]
    figure.clf()
