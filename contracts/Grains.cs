using Orleans.Concurrency;

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

    [Alias("GetJobs")]
    Task<IReadOnlyList<JobSummary>> GetJobs();

    /// <summary>Snapshots every <paramref name="intervalMilliseconds"/> until the run has finished (the last one included).</summary>
    [Alias("Watch")]
    IAsyncEnumerable<RunSnapshot> Watch(int intervalMilliseconds);

    [Alias("Cancel")]
    Task<CommandResult> Cancel();

    /// <summary>The per-trait accuracy/precision/recall/F1 table of a trait sweep.</summary>
    [Alias("GetResults")]
    Task<IReadOnlyList<TraitResultRow>> GetResults();
}

/// <summary>One job's state machine. Every transition is fenced by the attempt number and recorded in <c>job_events</c>.</summary>
[Alias("PunkGrid.IJobGrain")]
public interface IJobGrain : IGrainWithStringKey
{
    [Alias("GetDetail")]
    Task<JobDetail?> GetDetail();

    /// <summary>Queued → Running with attempt + 1 for <paramref name="workerId"/>; null if the job is not queued.</summary>
    [Alias("Start")]
    Task<JobLease?> Start(string workerId);

    [Alias("Succeed")]
    Task<bool> Succeed(int attempt, string evaluationJson, IReadOnlyDictionary<string, double> summary);

    /// <summary>Running → Queued when retryable and attempts remain, else → Failed with the error kept.</summary>
    [Alias("Fail")]
    Task<JobState?> Fail(int attempt, string error, bool retryable);

    /// <summary>The worker stopped heartbeating: Running → Queued (attempts remain) or Failed.</summary>
    [Alias("LoseLease")]
    Task<JobState?> LoseLease(int attempt, string reason);

    [Alias("Cancel")]
    Task<CommandResult> Cancel(string reason);

    /// <summary>Failed | Cancelled → Queued, with a fresh budget of attempts.</summary>
    [Alias("Retry")]
    Task<CommandResult> Retry();

    [Alias("GetMetrics")]
    Task<IReadOnlyList<MetricPoint>> GetMetrics(string? name);

    [Alias("GetArtifacts")]
    Task<IReadOnlyList<ArtifactInfo>> GetArtifacts();

    [Alias("GetArtifact")]
    Task<ArtifactContent?> GetArtifact(string name);
}

/// <summary>What a worker offers: where it runs, its device (<c>cpu</c>, <c>cuda:N</c>) and how many jobs at once.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.WorkerRegistration")]
public sealed record WorkerRegistration(
    [property: Id(0)] string WorkerId,
    [property: Id(1)] string Silo,
    [property: Id(2)] string Device,
    [property: Id(3)] int Slots,
    [property: Id(4)] long MemoryMegabytes);

/// <summary>A job leased to a worker. <see cref="Attempt"/> is the fencing token for every write the worker makes.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.JobLease")]
public sealed record JobLease(
    [property: Id(0)] string JobId,
    [property: Id(1)] string RunId,
    [property: Id(2)] int Attempt,
    [property: Id(3)] JobSpec Spec);

[GenerateSerializer, Immutable, Alias("PunkGrid.JobProgressReport")]
public sealed record JobProgressReport(
    [property: Id(0)] string JobId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] int Epoch,
    [property: Id(3)] int TotalEpochs,
    [property: Id(4)] long Step,
    [property: Id(5)] long TotalSteps,
    [property: Id(6)] double Progress);

/// <summary>The jobs a worker must stop: cancelled, or leased to a newer attempt after its lease expired.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.HeartbeatReply")]
public sealed record HeartbeatReply([property: Id(0)] IReadOnlyList<string> LostJobIds);

[GenerateSerializer, Immutable, Alias("PunkGrid.QueuedJob")]
public sealed record QueuedJob(
    [property: Id(0)] string JobId,
    [property: Id(1)] int Priority,
    [property: Id(2)] DateTimeOffset CreatedAt,
    [property: Id(3)] string DeviceRequirement);

/// <summary>The cluster's one scheduler: a priority queue rebuilt from <c>jobs</c> on activation, and the leases.</summary>
[Alias("PunkGrid.ISchedulerGrain")]
public interface ISchedulerGrain : IGrainWithIntegerKey
{
    [OneWay, Alias("Enqueue")]
    Task Enqueue(IReadOnlyList<QueuedJob> jobs);

    /// <summary>A job left Running or Queued for good (finished, cancelled): forget its lease or queue entry.</summary>
    [OneWay, Alias("Released")]
    Task Released(string jobId);

    [Alias("Lease")]
    Task<IReadOnlyList<JobLease>> Lease(WorkerRegistration worker, int freeSlots);

    [Alias("Heartbeat")]
    Task<HeartbeatReply> Heartbeat(WorkerRegistration worker, IReadOnlyList<JobProgressReport> progress);

    [Alias("GetQueueDepth")]
    Task<int> GetQueueDepth();

    [Alias("Ping")]
    Task Ping();
}

/// <summary>Cluster-wide listings read straight from PostgreSQL.</summary>
[Alias("PunkGrid.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    [Alias("ListRuns")]
    Task<IReadOnlyList<RunSummary>> ListRuns(int limit);

    [Alias("ListWorkers")]
    Task<IReadOnlyList<WorkerView>> ListWorkers();

    /// <summary>The 92 trait names, for clients to validate and complete.</summary>
    [Alias("ListTraits")]
    Task<IReadOnlyList<string>> ListTraits();
}
