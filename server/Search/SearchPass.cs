using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Server.Queue;

namespace PunkGrid.Server.Search;

/// <summary>
/// Drives every open search, on every silo every <see cref="SearchOptions.Interval"/>: each target is decided by one silo
/// at a time (<see cref="SearchStore.DecideDueAsync"/>), so a silo's death, a restart or a database outage loses nothing
/// — the next pass, on whichever silo, reads the same rows and takes the decisions that are due, once.
/// </summary>
public sealed partial class SearchPass(SearchStore store, IOptions<SearchOptions> options, IOptions<JobQueueOptions> queue, ILogger<SearchPass> logger)
    : PeriodicPass(logger)
{
    protected override TimeSpan Interval => options.Value.Interval;

    protected override string Name => "Deciding the open searches";

    protected override async Task RunPassAsync(CancellationToken stopping)
    {
        var hold = queue.Value.AllowFaultInjection ? options.Value.HoldPromotionsFor : TimeSpan.Zero;
        var taken = await store.DecideDueAsync(hold > TimeSpan.Zero ? (d, c) => HoldAsync(d, hold, c) : null, stopping);
        foreach (var target in taken)
        {
            if (target.Conflict is { } conflict)
            {
                LogConflict(logger, target.SearchId, target.Target, conflict);
            }
            foreach (var d in target.Decisions)
            {
                LogDecision(logger, target.SearchId, target.Target, d.Sequence, d.Action, d.Detail);
            }
        }
    }

    private async Task HoldAsync(SearchStore.TargetDecisions decisions, TimeSpan hold, CancellationToken stopping)
    {
        if (!decisions.Decisions.Any(d => d.Action == "promote"))
        {
            return;
        }
        LogHolding(logger, decisions.SearchId, decisions.Target, decisions.Decisions[0].Sequence, decisions.Decisions[^1].Sequence, hold.TotalSeconds);
        await Task.Delay(hold, stopping);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Search {Search} {Target}: decision {Sequence} {Action}: {Detail}")]
    private static partial void LogDecision(ILogger logger, string search, string target, int sequence, string action, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search {Search} {Target}: {Conflict}")]
    private static partial void LogConflict(ILogger logger, string search, string target, string conflict);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search {Search} {Target}: holding decisions {First}-{Last} uncommitted for {Seconds}s (fault injection)")]
    private static partial void LogHolding(ILogger logger, string search, string target, int first, int last, double seconds);
}
