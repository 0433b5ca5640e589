using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Grains;

/// <summary>
/// One retraining schedule (see <see cref="IScheduleGrain"/> for the firing policy). Its reminder wakes it every
/// <see cref="RetrainingScheduleOptions.Tick"/>; the row in <c>schedules</c> says whether a firing is due.
/// </summary>
public sealed partial class ScheduleGrain(ScheduleStore store, SubmissionPlanner planner, IOptions<RetrainingScheduleOptions> options, ILogger<ScheduleGrain> logger)
    : Grain, IScheduleGrain, IRemindable
{
    public const string ReminderName = "fire";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    private string Name => this.GetPrimaryKeyString();

    private TimeSpan Tick => options.Value.Tick;

    public async Task<CommandResult> Add(ScheduleSpec spec)
    {
        if (!NamePattern().IsMatch(Name))
        {
            return new CommandResult(false, $"schedule name '{Name}' is not allowed: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        try
        {
            ScheduleCron.Parse(spec.Cron);
            ScheduleCron.Zone(spec.TimeZone);
            await planner.PlanAsync($"{Name}-00000000-000000", spec.Run); // the run is validated now, not at 3 a.m.
        }
        catch (ArgumentException ex)
        {
            return new CommandResult(false, ex.Message);
        }
        var normalized = spec with { Cron = string.Join(' ', spec.Cron.Split(' ', StringSplitOptions.RemoveEmptyEntries)), TimeZone = string.IsNullOrWhiteSpace(spec.TimeZone) ? "UTC" : spec.TimeZone.Trim() };
        if (!await store.InsertAsync(Name, normalized))
        {
            return new CommandResult(false, $"schedule '{Name}' exists (remove it first, or pick another name)");
        }
        await this.RegisterOrUpdateReminder(ReminderName, Tick, Tick);
        var view = ScheduleCron.View((await store.GetAsync(Name))!);
        LogAdded(logger, Name, normalized.Cron, normalized.TimeZone, view.NextFireAt);
        return new CommandResult(true, $"schedule '{Name}' added; next firing {view.NextFireAt:u}");
    }

    public async Task<ScheduleView?> Get() => await store.GetAsync(Name) is { } row ? ScheduleCron.View(row) : null;

    public async Task<CommandResult> SetPaused(bool paused)
    {
        var row = await store.GetAsync(Name);
        if (row is null)
        {
            return new CommandResult(false, $"unknown schedule '{Name}' (see `punkgrid schedule list`)", NotFound: true);
        }
        if (row.Paused == paused)
        {
            return new CommandResult(false, $"schedule '{Name}' is already {(paused ? "paused" : "active")}");
        }
        await store.SetPausedAsync(Name, paused);
        if (paused)
        {
            await UnregisterAsync();
        }
        else
        {
            // Firings due during the pause are skipped: the schedule continues from now.
            await store.RecordFiringAsync(Name, row.LastFiredAt, DateTimeOffset.UtcNow, null, "resumed; firings due while paused were skipped");
            await this.RegisterOrUpdateReminder(ReminderName, Tick, Tick);
        }
        return new CommandResult(true, $"schedule '{Name}' {(paused ? "paused" : "resumed")}");
    }

    public async Task<CommandResult> Remove()
    {
        var removed = await store.DeleteAsync(Name);
        await UnregisterAsync();
        return removed
            ? new CommandResult(true, $"schedule '{Name}' removed (its runs are kept)")
            : new CommandResult(false, $"unknown schedule '{Name}' (see `punkgrid schedule list`)", NotFound: true);
    }

    private async Task UnregisterAsync()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        var row = await store.GetAsync(Name);
        if (row is null || row.Paused)
        {
            await UnregisterAsync(); // removed or paused elsewhere
            return;
        }
        var now = DateTimeOffset.UtcNow;
        if (ScheduleCron.NextDue(row) is not { } due || due > now)
        {
            return;
        }
        if (row.LastRunId is { } previous && await GrainFactory.GetGrain<IRunGrain>(previous).GetSummary() is { Finished: false })
        {
            var skipped = $"firing due {due:u} skipped: run {previous} is still in progress";
            await store.RecordFiringAsync(Name, row.LastFiredAt, now, null, skipped, webhookEvent: WebhookEvents.ScheduleMissed);
            LogSkipped(logger, Name, skipped);
            return;
        }
        var runId = $"{Name}-{due.UtcDateTime:yyyyMMdd-HHmmss}";
        var result = await GrainFactory.GetGrain<IRunGrain>(runId).Submit(row.Run);
        var outcome = result.Error is null
            ? $"submitted run {runId} ({result.JobCount} jobs) for the firing due {due:u}"
            : $"run {runId} refused: {result.Error}";
        await store.RecordFiringAsync(Name, row.LastFiredAt, now, result.Error is null ? runId : null, outcome,
            webhookEvent: result.Error is null ? null : WebhookEvents.ScheduleFailed);
        LogFired(logger, Name, outcome);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} added: {Cron} ({TimeZone}), next at {Next:u}")]
    private static partial void LogAdded(ILogger logger, string schedule, string cron, string timeZone, DateTimeOffset? next);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {Schedule}: {Outcome}")]
    private static partial void LogSkipped(ILogger logger, string schedule, string outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule}: {Outcome}")]
    private static partial void LogFired(ILogger logger, string schedule, string outcome);
}

/// <summary>Lists every schedule with its next due time; served by any silo.</summary>
[StatelessWorker]
public sealed class ScheduleCatalogGrain(ScheduleStore store) : Grain, IScheduleCatalogGrain
{
    public async Task<IReadOnlyList<ScheduleView>> List() => (await store.ListAsync()).Select(ScheduleCron.View).ToList();
}
