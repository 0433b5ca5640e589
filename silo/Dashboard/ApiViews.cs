using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary><c>GET /api/cluster</c>: the worker silos, the queue's depth, and the silo's clock.</summary>
public sealed record ClusterView(IReadOnlyList<WorkerView> Workers, long QueueDepth, DateTimeOffset Now);

/// <summary><c>GET /api/runs</c>: one page of runs, newest first; <see cref="Next"/> is the <c>after=</c> cursor.</summary>
public sealed record RunsPage(IReadOnlyList<RunSummary> Runs, string? Next);

/// <summary><c>GET /api/runs/{id}</c>: the run's counts, its spec and the first page of its jobs.</summary>
public sealed record RunView(RunSummary Summary, RunSpec? Spec, IReadOnlyList<JobSummary> Jobs, string? NextJobs);

/// <summary><c>GET /api/runs/{id}/jobs</c>: one page of a run's jobs.</summary>
public sealed record JobsPage(IReadOnlyList<JobSummary> Jobs, string? Next);

/// <summary><c>GET /api/jobs/{id}/metrics</c>: one page of metric points; <see cref="NextAfterStep"/> is the <c>after_step=</c> cursor.</summary>
public sealed record MetricsView(IReadOnlyList<MetricPoint> Points, long? NextAfterStep);

/// <summary><c>GET /api/searches/{id}</c>: the search, its trials, its decisions and each trial's metric by epoch.</summary>
public sealed record SearchView(SearchSummary Search, IReadOnlyList<SearchTrialView> Trials, IReadOnlyList<SearchDecisionView> Decisions, IReadOnlyList<SearchCurve> Curves);
