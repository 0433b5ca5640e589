using Cronos;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Grains;

/// <summary>Cron expressions and time zones of schedules: parsing with messages that name the bad value, and due times.</summary>
public static class ScheduleCron
{
    /// <summary>5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first.</summary>
    public static CronExpression Parse(string? cron)
    {
        var fields = (cron ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (fields is not (5 or 6))
        {
            throw new ArgumentException($"cron '{cron}' has {fields} fields; expected 5 (minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\") or 6 (seconds first, e.g. \"*/30 * * * * *\")");
        }
        try
        {
            return CronExpression.Parse(cron!, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException ex)
        {
            throw new ArgumentException($"cron '{cron}' is not valid: {ex.Message}", ex);
        }
    }

    public static TimeZoneInfo Zone(string timeZone)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(string.IsNullOrWhiteSpace(timeZone) ? "UTC" : timeZone.Trim());
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"time zone '{timeZone}' is unknown; use an IANA id such as UTC, Europe/Berlin or America/New_York", ex);
        }
    }

    /// <summary>The first firing after the last one (or after creation): in the past when a firing is due.</summary>
    public static DateTimeOffset? NextDue(ScheduleStore.Row row) =>
        Parse(row.Cron).GetNextOccurrence(row.LastFiredAt ?? row.CreatedAt, Zone(row.TimeZone));

    /// <summary>The health states of a schedule, as the <c>punkgrid.schedules</c> gauge counts them.</summary>
    public static readonly string[] HealthStates = ["ok", "paused", "overdue", "skipped", "refused"];

    /// <summary>
    /// How a schedule's last firing went: <c>refused</c> (its run was refused), <c>skipped</c> (the previous run was still
    /// going), <c>overdue</c> (a firing is due for longer than three ticks and a minute: no silo fired it), <c>paused</c>, else <c>ok</c>.
    /// </summary>
    public static string Health(ScheduleStore.Row row, DateTimeOffset now, TimeSpan tick)
    {
        if (row.Paused)
        {
            return "paused";
        }
        if (NextDue(row) is { } due && now - due > tick * 3 + TimeSpan.FromMinutes(1))
        {
            return "overdue";
        }
        return row.LastOutcome switch
        {
            { } o when o.Contains(" refused: ", StringComparison.Ordinal) => "refused",
            { } o when o.StartsWith("firing due ", StringComparison.Ordinal) && o.Contains(" skipped: ", StringComparison.Ordinal) => "skipped",
            _ => "ok",
        };
    }

    public static ScheduleView View(ScheduleStore.Row row) => new(
        row.Name, row.Cron, row.TimeZone, row.Paused, row.Run, row.CreatedAt, row.LastFiredAt, row.LastRunId,
        row.Paused ? null : NextDue(row), row.LastOutcome);
}
