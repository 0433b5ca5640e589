namespace PunkGrid.Contracts;

/// <summary>
/// One line of a job's log: what its trainer or worker said, when, at which level, from which attempt.
/// <see cref="Superseded"/>: the line was said after a newer attempt of the job had started (a worker that lost its lease
/// saying why it stopped); kept, but not part of the attempt that owns the job.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.JobLogLine")]
public sealed record JobLogLine(
    [property: Id(0)] long Id,
    [property: Id(1)] int Attempt,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] string Level,
    [property: Id(4)] string Source,
    [property: Id(5)] string Message,
    [property: Id(6)] bool Superseded);

/// <summary>
/// Which lines of a job's log to read: after the line id <see cref="After"/> (a cursor: the previous page's
/// <see cref="JobLogPage.Next"/>), only <see cref="Attempt"/>'s when set, at most <see cref="Limit"/>; with
/// <see cref="Tail"/> the newest <see cref="Limit"/> lines instead of the oldest.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.JobLogQuery")]
public sealed record JobLogQuery(
    [property: Id(0)] long After = 0,
    [property: Id(1)] int? Attempt = null,
    [property: Id(2)] int Limit = JobLogQuery.DefaultLimit,
    [property: Id(3)] bool Tail = false)
{
    public const int DefaultLimit = 1_000;
    public const int MaxLimit = 10_000;
}

/// <summary>
/// A page of log lines in the order they were written. <see cref="Next"/> is the cursor for the next read (the last
/// line's id, or the query's own cursor when nothing new was there): reading again from it gives only newer lines.
/// <see cref="More"/>: more lines matched than the page held (with <see cref="JobLogQuery.Tail"/>: older ones). <see cref="Dropped"/>: lines of this job the log no
/// longer keeps (it keeps the newest ones up to its bound).
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.JobLogPage")]
public sealed record JobLogPage(
    [property: Id(0)] IReadOnlyList<JobLogLine> Lines,
    [property: Id(1)] long Next,
    [property: Id(2)] bool More,
    [property: Id(3)] long Dropped);
