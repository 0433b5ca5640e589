using Npgsql;

namespace PunkGrid.Integration.Tests;

/// <summary>How cluster tests wait: poll a condition until it holds, else fail naming what was awaited, with the silos' logs.</summary>
public static class Polling
{
    /// <summary>
    /// Polls <paramref name="condition"/> every <paramref name="interval"/> (default 500 ms) for up to <paramref name="timeout"/>;
    /// with <paramref name="databaseMayBeDown"/>, a condition that cannot reach PostgreSQL counts as "not yet".
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string> logs,
        bool databaseMayBeDown = false, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (NpgsqlException) when (databaseMayBeDown)
            {
            }
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(500));
        }
        Assert.Fail($"timed out after {timeout.TotalSeconds:F0}s waiting for {what}\n{logs()}");
    }
}
