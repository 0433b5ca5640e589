namespace PunkGrid.Contracts;

/// <summary>A sweep. Keyed by the run id (client-supplied ids make a retried submit idempotent).</summary>
[Alias("PunkGrid.IRunGrain")]
public interface IRunGrain : IGrainWithStringKey
{
    /// <summary>Creates the run and its jobs in one transaction and queues them. Submitting an existing id changes nothing.</summary>
    [Alias("Submit")]
    Task<SubmitResult> Submit(RunSpec spec);

    /// <summary>Null when no run has this id.</summary>
    [Alias("GetSummary")]
    Task<RunSummary?> GetSummary();

    /// <summary>What was submitted: kind, targets, profile, parameters, priority. Null when no run has this id.</summary>
    [Alias("GetSpec")]
    Task<RunSpec?> GetSpec();

    [Alias("GetJobs")]
    Task<IReadOnlyList<JobSummary>> GetJobs();

    /// <summary>The run's jobs by job id, <paramref name="limit"/> at a time, after the job id <paramref name="after"/>.</summary>
    [Alias("GetJobsPage")]
    Task<Page<JobSummary>> GetJobsPage(string? after, int limit);

    /// <summary>Snapshots every <paramref name="intervalMilliseconds"/> until the run has finished (the last one included).</summary>
    [Alias("Watch")]
    IAsyncEnumerable<RunSnapshot> Watch(int intervalMilliseconds);

    [Alias("Cancel")]
    Task<CommandResult> Cancel();

    /// <summary>The per-trait accuracy/precision/recall/F1 table of a trait sweep.</summary>
    [Alias("GetResults")]
    Task<IReadOnlyList<TraitResultRow>> GetResults();
}

/// <summary>
/// One job, as operators see it: its detail, cancel and retry, its metrics, log and artifacts. Workers lease and report
/// through the database directly (the queue is the <c>jobs</c> table), so no client call can start, renew or finish an
/// attempt.
/// </summary>
[Alias("PunkGrid.IJobGrain")]
public interface IJobGrain : IGrainWithStringKey
{
    [Alias("GetDetail")]
    Task<JobDetail?> GetDetail();

    [Alias("Cancel")]
    Task<CommandResult> Cancel(string reason);

    /// <summary>Failed | Cancelled → Queued, with a fresh budget of failures.</summary>
    [Alias("Retry")]
    Task<CommandResult> Retry();

    [Alias("GetMetrics")]
    Task<MetricPage> GetMetrics(MetricQuery query);

    /// <summary>A page of the job's log (every attempt's, or one's); null when no job has this id.</summary>
    [Alias("GetLogs")]
    Task<JobLogPage?> GetLogs(JobLogQuery query);

    [Alias("GetArtifacts")]
    Task<IReadOnlyList<ArtifactInfo>> GetArtifacts();

    [Alias("GetArtifact")]
    Task<ArtifactContent?> GetArtifact(string name);
}

/// <summary>Cluster-wide listings read straight from PostgreSQL.</summary>
[Alias("PunkGrid.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    /// <summary>The newest runs first, <paramref name="limit"/> at a time, after the run <paramref name="after"/> (a cursor).</summary>
    [Alias("ListRuns")]
    Task<Page<RunSummary>> ListRuns(int limit, string? after = null);

    [Alias("ListWorkers")]
    Task<IReadOnlyList<WorkerView>> ListWorkers();

    /// <summary>How many jobs are Queued (the queue is the <c>jobs</c> table: this is its depth).</summary>
    [Alias("GetQueueDepth")]
    Task<long> GetQueueDepth();

    /// <summary>The 92 trait names, for clients to validate and complete.</summary>
    [Alias("ListTraits")]
    Task<IReadOnlyList<string>> ListTraits();
}
