namespace PunkGrid.Contracts;

/// <summary>
/// A retraining schedule: a cron expression (5 fields, or 6 with seconds first), evaluated in <see cref="TimeZone"/>
/// (an IANA id such as <c>Europe/Berlin</c>; default UTC), and the run each firing submits.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.ScheduleSpec")]
public sealed record ScheduleSpec(
    [property: Id(0)] string Cron,
    [property: Id(1)] string TimeZone,
    [property: Id(2)] RunSpec Run);

[GenerateSerializer, Immutable, Alias("PunkGrid.ScheduleView")]
public sealed record ScheduleView(
    [property: Id(0)] string Name,
    [property: Id(1)] string Cron,
    [property: Id(2)] string TimeZone,
    [property: Id(3)] bool Paused,
    [property: Id(4)] RunSpec Run,
    [property: Id(5)] DateTimeOffset CreatedAt,
    [property: Id(6)] DateTimeOffset? LastFiredAt,
    [property: Id(7)] string? LastRunId,
    [property: Id(8)] DateTimeOffset? NextFireAt,
    [property: Id(9)] string? LastOutcome);

/// <summary>
/// One schedule, keyed by its name. Its firings are driven by an Orleans reminder persisted in PostgreSQL, so they
/// survive silo restarts. A firing submits the run <c>NAME-yyyyMMdd-HHmmss</c> (the due time, UTC): two silos racing
/// over the same firing submit the same idempotent run. A firing due while the previous run of the schedule is still
/// in progress is skipped. Firings missed while the cluster was down are coalesced: the first tick after recovery
/// runs once, then the schedule continues from the next due time after now.
/// </summary>
[Alias("PunkGrid.IScheduleGrain")]
public interface IScheduleGrain : IGrainWithStringKey
{
    /// <summary>Creates the schedule; a bad name, cron, time zone or run is refused with a message naming it.</summary>
    [Alias("Add")]
    Task<CommandResult> Add(ScheduleSpec spec);

    [Alias("Get")]
    Task<ScheduleView?> Get();

    [Alias("SetPaused")]
    Task<CommandResult> SetPaused(bool paused);

    [Alias("Remove")]
    Task<CommandResult> Remove();
}

[Alias("PunkGrid.IScheduleCatalogGrain")]
public interface IScheduleCatalogGrain : IGrainWithIntegerKey
{
    [Alias("List")]
    Task<IReadOnlyList<ScheduleView>> List();
}
