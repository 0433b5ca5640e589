namespace PunkGrid.Client;

/// <summary><c>punkgrid cancel|retry</c>: commands on a run's jobs.</summary>
public static partial class PunkGridCommandLine
{
    private static async Task<int> CancelAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var result = await client.GetGrain<IJobGrain>(id).Cancel("cancelled by operator");
        if (result.NotFound)
        {
            result = await client.GetGrain<IRunGrain>(id).Cancel();
        }
        if (result.NotFound)
        {
            throw new UsageException($"unknown run or job '{id}'");
        }
        if (!result.Ok)
        {
            throw new UsageException(result.Message);
        }
        await io.Out.WriteLineAsync(result.Message);
        return 0;
    }

    private static async Task<int> RetryAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var result = await client.GetGrain<IJobGrain>(id).Retry();
        if (result.NotFound)
        {
            throw UnknownJob(id);
        }
        if (!result.Ok)
        {
            throw new UsageException(result.Message);
        }
        await io.Out.WriteLineAsync(result.Message);
        return 0;
    }
}
