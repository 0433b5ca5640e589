using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Trains nothing, on the whole path of a real job (see <see cref="NoopTrainingOptions"/>): it waits out its duration in
/// epochs, writes a metric point <c>noop_tick</c> per tick and <c>epoch_seconds</c> and <c>noop_score</c> per epoch (see
/// <see cref="NoopTrainingOptions.Quality"/>), stops after <see cref="NoopTrainingOptions.LastEpoch"/>, checkpoints every epoch
/// (incompressible bytes drawn from the seed and the epoch, so the database stores what a real model would cost), resumes
/// from its latest checkpoint, and stores <c>eval.json</c>.
/// </summary>
public sealed class NoopTrainer(NoopTrainingOptions options) : ITrainer
{
    private static readonly TimeSpan MetricFlushInterval = TimeSpan.FromMilliseconds(500);

    public string Kind => NoopTrainingOptions.Kind;

    public NoopTrainingOptions Options => options;

    public TrainingResult Train(TrainContext context)
    {
        var clock = Stopwatch.StartNew();
        var startEpoch = 0;
        long step = 0;
        if (context.LatestCheckpoint is { } checkpoint)
        {
            if (checkpoint.Kind != Kind)
            {
                throw new CheckpointFormatException($"checkpoint of kind '{checkpoint.Kind}' cannot resume a {Kind} job");
            }
            (startEpoch, step) = (Math.Min(checkpoint.Epoch, options.LastEpoch), checkpoint.Step);
        }
        var epochMs = (double)options.DurationMs / options.Epochs;
        var ticksPerEpoch = (long)Math.Floor(epochMs / 1000.0 * options.MetricsPerSecond);
        var lastEpoch = options.LastEpoch;
        // Without ticks an epoch is one step, so each epoch's points have a step of their own.
        var totalSteps = Math.Max(ticksPerEpoch, 1) * lastEpoch;
        var metrics = new List<MetricSample>();
        var written = 0L;
        context.ReportProgress(new TrainingProgress(startEpoch, lastEpoch, step, totalSteps, 0));

        for (var epoch = startEpoch; epoch < lastEpoch; epoch++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (options.Fault != NoopFault.None && epoch + 1 == options.FaultAtEpoch)
            {
                if (options.Fault == NoopFault.ExitProcess)
                {
                    // As the kernel's out-of-memory killer would: no shutdown, no goodbye.
                    Process.GetCurrentProcess().Kill();
                }
                throw new InvalidOperationException($"noop job asked to fail at epoch {epoch + 1} (fault=throw)");
            }
            var epochClock = Stopwatch.StartNew();
            var lastFlush = TimeSpan.Zero;
            for (long tick = 1; tick <= ticksPerEpoch; tick++)
            {
                // Tick i of the epoch is due at i/ticks of the epoch's span.
                Wait(context, TimeSpan.FromMilliseconds(epochMs * tick / ticksPerEpoch) - epochClock.Elapsed);
                step++;
                metrics.Add(new MetricSample("noop_tick", epoch + 1, step, tick));
                context.ReportProgress(new TrainingProgress(epoch, lastEpoch, step, totalSteps, 0));
                if (epochClock.Elapsed - lastFlush >= MetricFlushInterval)
                {
                    written += Flush(context, metrics);
                    lastFlush = epochClock.Elapsed;
                }
            }
            Wait(context, TimeSpan.FromMilliseconds(epochMs) - epochClock.Elapsed);
            if (ticksPerEpoch == 0)
            {
                step++;
            }
            metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, epochClock.Elapsed.TotalSeconds));
            metrics.Add(new MetricSample("noop_score", epoch + 1, step, options.Quality * (epoch + 1) / options.Epochs));
            written += Flush(context, metrics);
            if (options.CheckpointBytes > 0)
            {
                context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, null, Identity(),
                    new Dictionary<string, byte[]> { [TrainingCheckpoint.ModelSection] = CheckpointPayload(epoch + 1) }));
            }
            context.ReportProgress(new TrainingProgress(epoch + 1, lastEpoch, step, totalSteps, 0));
        }

        var evaluation = JsonSerializer.Serialize(new
        {
            kind = Kind,
            epochs = lastEpoch,
            resumed_from_epoch = startEpoch,
            duration_ms = options.DurationMs,
            metric_points_written = written,
            checkpoint_bytes = options.CheckpointBytes,
            seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
        });
        context.SaveArtifact("eval.json", "application/json", System.Text.Encoding.UTF8.GetBytes(evaluation));
        return new TrainingResult(Kind, evaluation, new Dictionary<string, double> { ["epochs"] = lastEpoch, ["noop_score"] = options.Quality * lastEpoch / options.Epochs });
    }

    private Dictionary<string, string> Identity() => new()
    {
        ["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
    };

    private byte[] CheckpointPayload(int epoch)
    {
        var bytes = new byte[options.CheckpointBytes];
        new Random(unchecked((options.Seed * 7919) + epoch)).NextBytes(bytes);
        return bytes;
    }

    private static void Wait(TrainContext context, TimeSpan time)
    {
        if (time > TimeSpan.Zero && context.Cancellation.WaitHandle.WaitOne(time))
        {
            context.Cancellation.ThrowIfCancellationRequested();
        }
    }

    private static int Flush(TrainContext context, List<MetricSample> metrics)
    {
        var count = metrics.Count;
        context.ReportMetrics(metrics.ToArray());
        metrics.Clear();
        return count;
    }
}
