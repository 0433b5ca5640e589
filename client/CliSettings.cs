using Microsoft.Extensions.Configuration;

namespace PunkGrid.Client;

/// <summary>
/// What the CLI reads when its options do not say: the same configuration keys the silos read, under the one environment
/// convention of .NET configuration — <c>PUNKGRID__Postgres</c>, <c>PUNKGRID__Tls__Directory</c>, <c>PUNKGRID__ClusterId</c>,
/// <c>PUNKGRID__ServiceId</c> — plus the CLI's own <c>PUNKGRID__Gateways</c>. The short names from before
/// (<c>PUNKGRID_PG</c>, <c>PUNKGRID_TLS_DIR</c>, <c>PUNKGRID_GATEWAYS</c>, <c>PUNKGRID_CLUSTER</c>, <c>PUNKGRID_SERVICE</c>)
/// keep working for a release, each with a warning naming the new one.
/// </summary>
public sealed record CliSettings(string? Postgres, string? TlsDirectory, string? Gateways, string ClusterId, string ServiceId, IReadOnlyList<string> Warnings)
{
    public const string PostgresKey = "Postgres";
    public const string TlsDirectoryKey = "Tls:Directory";
    public const string GatewaysKey = "Gateways";

    private static readonly (string Legacy, string Key)[] Renamed =
    [
        ("PUNKGRID_PG", PostgresKey),
        ("PUNKGRID_TLS_DIR", TlsDirectoryKey),
        ("PUNKGRID_GATEWAYS", GatewaysKey),
        ("PUNKGRID_CLUSTER", "ClusterId"),
        ("PUNKGRID_SERVICE", "ServiceId"),
    ];

    /// <summary>The environment variable of a key under <c>PunkGrid</c>: <c>Tls:Directory</c> is <c>PUNKGRID__Tls__Directory</c>.</summary>
    public static string EnvironmentName(string key) => "PUNKGRID__" + key.Replace(":", "__", StringComparison.Ordinal);

    public static CliSettings FromEnvironment() =>
        From(new ConfigurationBuilder().AddEnvironmentVariables().Build(), Environment.GetEnvironmentVariable);

    public static CliSettings From(IConfiguration configuration, Func<string, string?> environment)
    {
        var section = configuration.GetSection("PunkGrid");
        var warnings = new List<string>();
        string? Read(string key)
        {
            var value = NullIfBlank(section[key]);
            foreach (var (legacy, _) in Renamed.Where(r => r.Key == key))
            {
                if (NullIfBlank(environment(legacy)) is not { } old)
                {
                    continue;
                }
                if (value is null)
                {
                    value = old;
                    warnings.Add($"{legacy} is deprecated: set {EnvironmentName(key)} instead (read this time)");
                }
                else
                {
                    warnings.Add($"{legacy} is deprecated and ignored: {EnvironmentName(key)} is set");
                }
            }
            return value;
        }
        return new CliSettings(Read(PostgresKey), Read(TlsDirectoryKey), Read(GatewaysKey), Read("ClusterId") ?? "punkgrid", Read("ServiceId") ?? "punkgrid", warnings);
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
