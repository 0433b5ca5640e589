using Microsoft.Extensions.Hosting;

namespace PunkGrid.Silo;

/// <summary><c>silo serve</c>: runs a silo (worker or not) until stopped; bad settings are refused before anything starts.</summary>
public static partial class SiloCommandLine
{
    private static Command ServeCommand(TextWriter stderr)
    {
        var serve = new Command("serve", "Run the silo: Orleans on PostgreSQL, the scheduler, and (unless --no-worker) a worker agent.");
        var siloPort = new Option<int?>("--silo-port") { Description = "Silo-to-silo port (default 11111)." };
        var gatewayPort = new Option<int?>("--gateway-port") { Description = "Client gateway port (default 30000)." };
        var noWorker = new Option<bool>("--no-worker") { Description = "Do not run jobs on this silo." };
        var slots = new Option<int?>("--slots") { Description = "Jobs run at once (default: one per two cores)." };
        var name = new Option<string?>("--name") { Description = "Silo name shown by `punkgrid workers`." };
        var dashboard = new Option<string?>("--dashboard") { Description = "Dashboard, /api/ and /metrics address(es), ';'-separated, or 'off' (default: PunkGrid:Dashboard:Urls, http://127.0.0.1:5080). Non-loopback needs PunkGrid:Dashboard:Token." };
        foreach (var option in new Option[] { PostgresOption, siloPort, gatewayPort, noWorker, slots, name, dashboard })
        {
            serve.Options.Add(option);
        }
        serve.SetAction(async (parse, cancellation) =>
        {
            IHost host;
            try
            {
                host = SiloHost.BuildSilo(new SiloHost.Overrides(parse.GetValue(PostgresOption), parse.GetValue(siloPort), parse.GetValue(gatewayPort),
                    parse.GetValue(noWorker) ? false : null, parse.GetValue(slots), parse.GetValue(name), parse.GetValue(dashboard)));
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            catch (Exception ex) when (InvalidSettings(ex) is { Count: > 0 } failures)
            {
                await stderr.WriteLineAsync($"error: {string.Join("; ", failures)}");
                return BadInput;
            }
            using (host)
            {
                try
                {
                    await host.RunAsync(cancellation);
                }
                catch (Exception ex) when (InvalidSettings(ex) is { Count: > 0 } failures)
                {
                    await stderr.WriteLineAsync($"error: {string.Join("; ", failures)}");
                    return BadInput;
                }
                catch (Npgsql.NpgsqlException ex)
                {
                    await stderr.WriteLineAsync($"error: cannot use PostgreSQL ({ex.Message}); check --postgres / PUNKGRID__Postgres");
                    return 1;
                }
                catch (TimeoutException ex)
                {
                    await stderr.WriteLineAsync($"error: {ex.Message}; check --postgres / PUNKGRID__Postgres");
                    return 1;
                }
                catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
                {
                    await stderr.WriteLineAsync($"error: cannot serve the dashboard ({ex.Message}); pick another address with --dashboard or PunkGrid:Dashboard:Urls, or 'off'");
                    return 1;
                }
            }
            return 0;
        });
        return serve;
    }

    /// <summary>The failures of settings validated at start (<c>ValidateOnStart</c>), however the host wrapped them.</summary>
    private static List<string> InvalidSettings(Exception exception) => exception switch
    {
        Microsoft.Extensions.Options.OptionsValidationException invalid => [.. invalid.Failures],
        AggregateException many => many.InnerExceptions.SelectMany(InvalidSettings).Distinct().ToList(),
        _ => [],
    };
}
