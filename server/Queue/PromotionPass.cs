using Microsoft.Extensions.Logging;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Queue;

/// <summary>
/// Promotes the runs submitted with <c>--promote-if-better ALIAS</c> once they end (<see cref="ModelRegistryStore.PromoteEndedRunsAsync"/>),
/// on every silo every few seconds: each run is taken by one silo (its row locked, skip locked), in one transaction.
/// </summary>
public sealed partial class PromotionPass(ModelRegistryStore registry, ILogger<PromotionPass> logger) : PeriodicPass(logger)
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(3);

    protected override TimeSpan Interval => Every;

    protected override string Name => "Promoting the models of ended runs";

    protected override async Task RunPassAsync(CancellationToken stopping)
    {
        foreach (var d in await registry.PromoteEndedRunsAsync(stopping))
        {
            LogDecision(logger, d.RunId, d.Model, d.Alias, d.CandidateVersion, d.CandidateMetric, d.CurrentVersion, d.CurrentMetric,
                d.Promoted ? "promoted" : "kept", d.Reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {Run}: {Model} {Alias}: version {Candidate} ({CandidateMetric}) against {Current} ({CurrentMetric}): {Outcome}, {Reason}")]
    private static partial void LogDecision(ILogger logger, string run, string model, string alias, int candidate, double? candidateMetric, int? current, double? currentMetric, string outcome, string reason);
}
