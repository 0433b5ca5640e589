using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Queue;

/// <summary>
/// Applies <c>PunkGrid:Retention</c> every <see cref="RetentionOptions.Interval"/> when <see cref="RetentionOptions.OlderThan"/>
/// is set: on every silo, one at a time (the store's advisory lock), each pass working through every eligible run.
/// </summary>
public sealed partial class RetentionPass(RetentionStore store, IOptions<RetentionOptions> options, ILogger<RetentionPass> logger) : PeriodicPass(logger)
{
    protected override TimeSpan Interval => options.Value.Interval;

    protected override string Name => "Retention";

    protected override async Task RunPassAsync(CancellationToken stopping)
    {
        if (options.Value.OlderThan is not { } age)
        {
            return;
        }
        DateTimeOffset? cutoff = null;
        while (await store.CollectAsync(new RetentionRequest(age, cutoff), stopping) is { } report)
        {
            cutoff = report.Cutoff;
            if (report.Runs.Count > 0)
            {
                LogCollected(logger, report.Runs.Count, report.Cutoff, report.LogLines, report.MetricPoints, report.Checkpoints, report.CheckpointBytes / 1e6);
            }
            if (report.Remaining == 0)
            {
                break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: {Runs} run(s) ended before {Cutoff:u}: removed {Lines} log line(s), {Points} metric point(s) between epoch ends, {Checkpoints} checkpoint(s) ({Megabytes:F1} MB)")]
    private static partial void LogCollected(ILogger logger, int runs, DateTimeOffset cutoff, long lines, long points, long checkpoints, double megabytes);
}
