using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// The HTTP surface's settings as configured (<c>PunkGrid:Dashboard</c>); <see cref="DashboardSettings"/> is what they mean
/// once checked (URLs parsed, the token made up where allowed, the host names to answer to).
/// </summary>
public sealed class DashboardOptions
{
    public const string Section = "PunkGrid:Dashboard";

    /// <summary>Where to listen, <c>;</c>-separated, or <c>off</c>; empty: <see cref="DashboardSettings.DefaultUrl"/>.</summary>
    public string? Urls { get; set; }

    /// <summary>The bearer token every request that changes the cluster must carry.</summary>
    public string? Token { get; set; }

    /// <summary>Host names (comma- or <c>;</c>-separated) browsers reach the dashboard by, besides the URLs' own.</summary>
    public string? AllowedHosts { get; set; }

    /// <summary>No token at all (loopback only): any program on the machine may change the cluster.</summary>
    public bool Insecure { get; set; }

    /// <summary>Binds the section and checks it now: an <see cref="OptionsValidationException"/> names what is wrong.</summary>
    public static DashboardSettings Load(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<DashboardOptions>() ?? new DashboardOptions();
        try
        {
            return DashboardSettings.Create(options.Urls, options.Token, options.AllowedHosts, options.Insecure);
        }
        catch (ArgumentException ex)
        {
            throw new OptionsValidationException(Section, typeof(DashboardOptions), [ex.Message]);
        }
    }
}
