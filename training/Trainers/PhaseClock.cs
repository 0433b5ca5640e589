using System.Diagnostics;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Accumulates wall time per named phase of a training job. One phase runs at a time: <see cref="Start"/> ends the
/// running phase (if any) and starts the named one; <see cref="Stop"/> ends it. Not thread-safe: one job, one clock.
/// </summary>
public sealed class PhaseClock
{
    private readonly Dictionary<string, long> ticks = new(StringComparer.Ordinal);
    private string? running;
    private long startedAt;

    public void Start(string phase)
    {
        Stop();
        running = phase;
        startedAt = Stopwatch.GetTimestamp();
    }

    public void Stop()
    {
        if (running is null)
        {
            return;
        }
        ticks[running] = ticks.GetValueOrDefault(running) + (Stopwatch.GetTimestamp() - startedAt);
        running = null;
    }

    /// <summary>The seconds accumulated by <paramref name="phase"/>, rounded to milliseconds; 0 if it never ran.</summary>
    public double Seconds(string phase) =>
        Math.Round((double)ticks.GetValueOrDefault(phase) / Stopwatch.Frequency, 3);
}
