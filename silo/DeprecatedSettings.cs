using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace PunkGrid.Silo;

/// <summary>
/// Settings under names from before: <c>PunkGrid:Scheduling</c> named both the job queue's lease settings and the
/// retraining schedules' tick, and <c>PUNKGRID_PG</c> was the database outside the one environment convention
/// (<c>PUNKGRID__Postgres</c>). They keep working for a release — each is read into its new place (<c>PunkGrid:Queue</c>,
/// <c>PunkGrid:Schedules:Tick</c>, <c>PunkGrid:Postgres</c>) unless that is set too — and the silo logs a warning naming
/// the new key once at start.
/// </summary>
public static partial class DeprecatedSettings
{
    private const string LegacySection = "PunkGrid:Scheduling";

    /// <summary>The new key of a key under <c>PunkGrid:Scheduling</c>.</summary>
    public static string NewKey(string legacyKey) => legacyKey.Equals("ScheduleTick", StringComparison.OrdinalIgnoreCase)
        ? "PunkGrid:Schedules:Tick"
        : $"PunkGrid:Queue:{legacyKey}";

    /// <summary>The legacy values to add under their new keys, and a warning for each.</summary>
    public static (Dictionary<string, string?> Values, List<string> Warnings) Map(IConfiguration configuration, Func<string, string?>? environment = null)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var warnings = new List<string>();
        if ((environment ?? Environment.GetEnvironmentVariable)("PUNKGRID_PG") is { Length: > 0 } postgres)
        {
            if (string.IsNullOrWhiteSpace(configuration["PunkGrid:Postgres"]))
            {
                values["PunkGrid:Postgres"] = postgres;
                warnings.Add("PUNKGRID_PG is deprecated and read as PunkGrid:Postgres: set PUNKGRID__Postgres instead");
            }
            else
            {
                warnings.Add("PUNKGRID_PG is deprecated and ignored: PunkGrid:Postgres is set (--postgres or PUNKGRID__Postgres)");
            }
        }
        foreach (var setting in configuration.GetSection(LegacySection).GetChildren().Where(c => c.Value is not null))
        {
            var key = NewKey(setting.Key);
            var variable = "PUNKGRID__" + key["PunkGrid:".Length..].Replace(":", "__", StringComparison.Ordinal);
            if (configuration[key] is null)
            {
                values[key] = setting.Value;
                warnings.Add($"{LegacySection}:{setting.Key} is deprecated and read as {key}: rename it (env {variable})");
            }
            else
            {
                warnings.Add($"{LegacySection}:{setting.Key} is deprecated and ignored: {key} is set (env {variable})");
            }
        }
        return (values, warnings);
    }

    /// <summary>Logs the warnings once the host starts.</summary>
    public sealed partial class Announcement(IReadOnlyList<string> warnings, ILogger<Announcement> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            foreach (var warning in warnings)
            {
                LogDeprecated(logger, warning);
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "Setting {Warning}")]
        private static partial void LogDeprecated(ILogger logger, string warning);
    }
}
