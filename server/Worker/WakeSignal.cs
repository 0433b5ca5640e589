namespace PunkGrid.Server.Worker;

/// <summary>A wake-up that coalesces: set any number of times, it ends one wait (or the next one, if nobody waits yet).</summary>
internal sealed class WakeSignal
{
    private TaskCompletionSource current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set() => Volatile.Read(ref current).TrySetResult();

    /// <summary>Forgets a wake-up already consumed, so the next wait waits for a new one.</summary>
    public void Reset()
    {
        var seen = Volatile.Read(ref current);
        if (seen.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref current, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), seen);
        }
    }

    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        try
        {
            await Volatile.Read(ref current).Task.WaitAsync(timeout, cancellation);
        }
        catch (TimeoutException)
        {
        }
    }
}
