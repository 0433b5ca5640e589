using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;

namespace PunkGrid.Server.Telemetry;

/// <summary>
/// Reads the jobs-by-state counts and the job logs' size from PostgreSQL every few seconds for the <c>punkgrid.jobs</c> and
/// <c>punkgrid.job_logs.*</c> gauges (a gauge callback must not block on the database), and points the local running-jobs
/// gauge at this silo's worker.
/// </summary>
public sealed partial class JobStateSampler(JobStore store, JobLogStore logs, IServiceProvider services, ILogger<JobStateSampler> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private IReadOnlyDictionary<string, long> latest = new Dictionary<string, long>();
    private JobLogSize logSize = new(0, 0);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var worker = services.GetServices<IHostedService>().OfType<WorkerAgent>().FirstOrDefault();
        PunkGridTelemetry.Observe(() => latest, () => worker?.RunningJobIds.Count ?? 0);
        PunkGridTelemetry.ObserveJobLogs(() => (logSize.Lines, logSize.Bytes));
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                latest = await store.CountJobsByStateAsync(stopping);
                logSize = await logs.SizeAsync(stopping);
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
