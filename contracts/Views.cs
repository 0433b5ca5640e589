namespace PunkGrid.Contracts;

/// <summary>Job states. Queued → Running → Succeeded | Failed | Cancelled; Running → Queued on a lost lease or a retryable failure.</summary>
public enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

public static class JobStates
{
    public static bool IsFinal(JobState state) => state is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}

[GenerateSerializer, Immutable, Alias("PunkGrid.SubmitResult")]
public sealed record SubmitResult(
    [property: Id(0)] string RunId,
    [property: Id(1)] bool Created,
    [property: Id(2)] string? Error,
    [property: Id(3)] int JobCount);

[GenerateSerializer, Immutable, Alias("PunkGrid.RunSummary")]
public sealed record RunSummary(
    [property: Id(0)] string RunId,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Profile,
    [property: Id(3)] int Priority,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] int Total,
    [property: Id(6)] int Queued,
    [property: Id(7)] int Running,
    [property: Id(8)] int Succeeded,
    [property: Id(9)] int Failed,
    [property: Id(10)] int Cancelled,
    [property: Id(11)] double Progress)
{
    public bool Finished => Queued + Running == 0;

    public string State => !Finished ? (Running > 0 ? "Running" : "Queued")
        : Failed > 0 ? "Failed" : Cancelled > 0 && Succeeded == 0 ? "Cancelled" : Cancelled > 0 ? "PartlyCancelled" : "Succeeded";
}

/// <summary>
/// One job as listed. <see cref="Attempt"/> counts its leases (the fencing token); <see cref="Failures"/> the attempts its
/// trainer failed (the job is Failed at <see cref="MaxFailures"/>); <see cref="LostLeases"/> the attempts that lost their
/// worker (killed, frozen, cut off), which cost the job nothing but time.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.JobSummary")]
public sealed record JobSummary(
    [property: Id(0)] string JobId,
    [property: Id(1)] string RunId,
    [property: Id(2)] string Kind,
    [property: Id(3)] string? Target,
    [property: Id(4)] JobState State,
    [property: Id(5)] int Attempt,
    [property: Id(6)] int Failures,
    [property: Id(7)] int MaxFailures,
    [property: Id(8)] int LostLeases,
    [property: Id(9)] string? WorkerId,
    [property: Id(10)] double Progress,
    [property: Id(11)] int Epoch,
    [property: Id(12)] int TotalEpochs,
    [property: Id(13)] string? Error,
    [property: Id(14)] IReadOnlyDictionary<string, double> Summary,
    [property: Id(15)] DateTimeOffset UpdatedAt);

[GenerateSerializer, Immutable, Alias("PunkGrid.JobEvent")]
public sealed record JobEventView(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string? FromState,
    [property: Id(3)] string ToState,
    [property: Id(4)] string? WorkerId,
    [property: Id(5)] string? Detail);

[GenerateSerializer, Immutable, Alias("PunkGrid.JobDetail")]
public sealed record JobDetail(
    [property: Id(0)] JobSummary Job,
    [property: Id(1)] JobSpec Spec,
    [property: Id(2)] IReadOnlyList<JobEventView> Events);

[GenerateSerializer, Immutable, Alias("PunkGrid.MetricPoint")]
public sealed record MetricPoint(
    [property: Id(0)] int Attempt,
    [property: Id(1)] int Epoch,
    [property: Id(2)] long Step,
    [property: Id(3)] string Name,
    [property: Id(4)] double Value);

/// <summary>
/// Which metric points to read: one name or all, only steps after <see cref="AfterStep"/> (a cursor: the previous page's
/// <see cref="MetricPage.NextAfterStep"/>), at most <see cref="Limit"/> points, and, when <see cref="Points"/> is set,
/// downsampled to at most that many points per name (the mean of each run of steps).
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.MetricQuery")]
public sealed record MetricQuery(
    [property: Id(0)] string? Name = null,
    [property: Id(1)] long AfterStep = -1,
    [property: Id(2)] int Limit = MetricQuery.DefaultLimit,
    [property: Id(3)] int? Points = null)
{
    public const int DefaultLimit = 10_000;
    public const int MaxLimit = 100_000;
    public const int MaxPoints = 10_000;
}

/// <summary>One page of metric points; <see cref="NextAfterStep"/> is the cursor for the next page, null on the last.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.MetricPage")]
public sealed record MetricPage(
    [property: Id(0)] IReadOnlyList<MetricPoint> Points,
    [property: Id(1)] long? NextAfterStep);

/// <summary>One page of a listing; <see cref="Next"/> is the cursor (<c>after=</c>) for the next page, null on the last.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.Page`1")]
public sealed record Page<T>(
    [property: Id(0)] IReadOnlyList<T> Items,
    [property: Id(1)] string? Next);

[GenerateSerializer, Immutable, Alias("PunkGrid.ArtifactInfo")]
public sealed record ArtifactInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string ContentType,
    [property: Id(2)] long SizeBytes,
    [property: Id(3)] string Sha256,
    [property: Id(4)] int Attempt,
    [property: Id(5)] DateTimeOffset CreatedAt);

[GenerateSerializer, Immutable, Alias("PunkGrid.Artifact")]
public sealed record ArtifactContent(
    [property: Id(0)] ArtifactInfo Info,
    [property: Id(1)] byte[] Content);

[GenerateSerializer, Immutable, Alias("PunkGrid.WorkerView")]
public sealed record WorkerView(
    [property: Id(0)] string WorkerId,
    [property: Id(1)] string Silo,
    [property: Id(2)] string Device,
    [property: Id(3)] int Slots,
    [property: Id(4)] int Running,
    [property: Id(5)] DateTimeOffset LastHeartbeat,
    [property: Id(6)] bool Alive);

/// <summary>One row of a sweep's results table: the held-out evaluation of one trait's model.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.TraitResult")]
public sealed record TraitResultRow(
    [property: Id(0)] string JobId,
    [property: Id(1)] string Trait,
    [property: Id(2)] JobState State,
    [property: Id(3)] double? Accuracy,
    [property: Id(4)] double? Precision,
    [property: Id(5)] double? Recall,
    [property: Id(6)] double? F1,
    [property: Id(7)] int? TestPositives,
    [property: Id(8)] double? Seconds);

/// <summary>A command's answer: whether it applied, and if not, why (unknown id, wrong state).</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.CommandResult")]
public sealed record CommandResult(
    [property: Id(0)] bool Ok,
    [property: Id(1)] string Message,
    [property: Id(2)] bool NotFound = false);

/// <summary>A watched run at one moment: its counts and every job's progress.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.RunSnapshot")]
public sealed record RunSnapshot(
    [property: Id(0)] RunSummary Summary,
    [property: Id(1)] IReadOnlyList<JobSummary> Jobs);
