using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Worker;

namespace PunkGrid.Server.Telemetry;

/// <summary>
/// Reads the jobs-by-state counts from PostgreSQL every few seconds for the <c>punkgrid.jobs</c> gauge (a gauge callback
/// must not block on the database), and points the local running-jobs gauge at this silo's worker.
/// </summary>
public sealed partial class JobStateSampler(JobStore store, IServiceProvider services, ILogger<JobStateSampler> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private IReadOnlyDictionary<string, long> latest = new Dictionary<string, long>();

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var worker = services.GetServices<IHostedService>().OfType<WorkerAgent>().FirstOrDefault();
        PunkGridTelemetry.Observe(() => latest, () => worker?.RunningJobIds.Count ?? 0);
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                latest = await store.CountJobsByStateAsync(stopping);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                LogCountsFailed(logger, ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job counts for telemetry: {Error}")]
    private static partial void LogCountsFailed(ILogger logger, string error);
}
