using Microsoft.Extensions.Configuration;
using PunkGrid.Client;

namespace PunkGrid.Integration.Tests;

/// <summary>The CLI's settings: one convention (PUNKGRID__… as the silos read it), the short names from before still read, with a warning.</summary>
public sealed class CliSettingsTests
{
    private static CliSettings From(Dictionary<string, string?> configured, Dictionary<string, string> environment) =>
        CliSettings.From(new ConfigurationBuilder().AddInMemoryCollection(configured).Build(), name => environment.GetValueOrDefault(name));

    [Fact]
    public void The_silos_keys_are_read_and_the_defaults_fill_the_rest()
    {
        var settings = From(new() { ["PunkGrid:Postgres"] = "Host=db", ["PunkGrid:Tls:Directory"] = "/tls", ["PunkGrid:Gateways"] = "a:1" }, []);
        Assert.Equal(("Host=db", "/tls", "a:1", "punkgrid", "punkgrid"), (settings.Postgres, settings.TlsDirectory, settings.Gateways, settings.ClusterId, settings.ServiceId));
        Assert.Empty(settings.Warnings);
        Assert.Equal("PUNKGRID__Tls__Directory", CliSettings.EnvironmentName(CliSettings.TlsDirectoryKey));
    }

    [Fact]
    public void The_names_from_before_still_work_with_a_warning_and_lose_to_the_new_ones()
    {
        var settings = From(new() { ["PunkGrid:Gateways"] = "new:1" }, new()
        {
            ["PUNKGRID_PG"] = "Host=old",
            ["PUNKGRID_TLS_DIR"] = "/old-tls",
            ["PUNKGRID_GATEWAYS"] = "old:1",
            ["PUNKGRID_CLUSTER"] = "c2",
        });
        Assert.Equal(("Host=old", "/old-tls", "new:1", "c2"), (settings.Postgres, settings.TlsDirectory, settings.Gateways, settings.ClusterId));
        Assert.Contains("PUNKGRID_PG is deprecated: set PUNKGRID__Postgres instead (read this time)", settings.Warnings);
        Assert.Contains("PUNKGRID_TLS_DIR is deprecated: set PUNKGRID__Tls__Directory instead (read this time)", settings.Warnings);
        Assert.Contains("PUNKGRID_GATEWAYS is deprecated and ignored: PUNKGRID__Gateways is set", settings.Warnings);
        Assert.Contains("PUNKGRID_CLUSTER is deprecated: set PUNKGRID__ClusterId instead (read this time)", settings.Warnings);
    }
}
