using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace PunkGrid.Silo;

/// <summary>
/// Where a silo is and which cluster it joins, bound from <c>PunkGrid</c> (appsettings.json, then <c>PUNKGRID__…</c>
/// environment variables, then the command line's options) and validated before anything starts.
/// </summary>
public sealed class ClusterHostOptions
{
    public const string Section = "PunkGrid";

    public const string MissingPostgres = "no PostgreSQL connection string: pass --postgres or set PUNKGRID__Postgres " +
        "(e.g. Host=127.0.0.1;Port=5432;Username=postgres;Database=punkgrid)";

    /// <summary>The PostgreSQL connection string (<c>--postgres</c>, else <c>PunkGrid:Postgres</c>: env <c>PUNKGRID__Postgres</c>).</summary>
    public string? Postgres { get; set; }

    public string ClusterId { get; set; } = "punkgrid";

    public string ServiceId { get; set; } = "punkgrid";

    /// <summary>The address other silos and clients reach this one at: an IP, or a host name resolved at start (IPv4 first).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>Listen on every address (0.0.0.0) while advertising <see cref="AdvertisedAddress"/> (containers, NAT).</summary>
    public bool ListenOnAnyAddress { get; set; }

    /// <summary>The silo's name in <c>punkgrid workers</c> and the database's <c>application_name</c>; empty: the machine's name.</summary>
    public string? SiloName { get; set; }

    public string EffectiveSiloName => string.IsNullOrWhiteSpace(SiloName) ? Environment.MachineName : SiloName;

    /// <summary>Binds the section and validates it now, so that a host being built can use the values: an <see cref="OptionsValidationException"/> names every bad one.</summary>
    public static ClusterHostOptions Load(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<ClusterHostOptions>() ?? new ClusterHostOptions();
        var result = new Validator().Validate(null, options);
        return result.Failed ? throw new OptionsValidationException(Options.DefaultName, typeof(ClusterHostOptions), result.Failures) : options;
    }

    private IPAddress? advertised;

    /// <summary>The advertised address as an IP: parsed, or the host name resolved (once; validation and the endpoints share it).</summary>
    public IPAddress ResolveAdvertisedAddress() => advertised ??= Resolve();

    private IPAddress Resolve()
    {
        var text = string.IsNullOrWhiteSpace(AdvertisedAddress) ? "127.0.0.1" : AdvertisedAddress.Trim();
        if (IPAddress.TryParse(text, out var address))
        {
            return address;
        }
        try
        {
            return Dns.GetHostAddresses(text).OrderBy(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 0 : 1).First();
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or InvalidOperationException)
        {
            throw new ArgumentException($"PunkGrid:AdvertisedAddress '{text}' is neither an IP address nor a host name that resolves ({ex.Message})", ex);
        }
    }

    public sealed class Validator : IValidateOptions<ClusterHostOptions>
    {
        public ValidateOptionsResult Validate(string? name, ClusterHostOptions o)
        {
            var errors = new List<string>();
            if (string.IsNullOrWhiteSpace(o.Postgres))
            {
                errors.Add(MissingPostgres);
            }
            foreach (var (key, port) in new[] { ("SiloPort", o.SiloPort), ("GatewayPort", o.GatewayPort) })
            {
                if (port is < 1 or > 65535)
                {
                    errors.Add($"PunkGrid:{key} {port} is not allowed: a port from 1 to 65535");
                }
            }
            if (o.SiloPort == o.GatewayPort)
            {
                errors.Add($"PunkGrid:SiloPort and PunkGrid:GatewayPort are both {o.SiloPort}: the silo and its gateway need ports of their own");
            }
            foreach (var (key, value) in new[] { ("ClusterId", o.ClusterId), ("ServiceId", o.ServiceId) })
            {
                if (string.IsNullOrWhiteSpace(value) || value.Any(char.IsControl) || value.Length > 100)
                {
                    errors.Add($"PunkGrid:{key} '{value}' is not allowed: 1-100 characters, no control characters");
                }
            }
            try
            {
                o.ResolveAdvertisedAddress();
            }
            catch (ArgumentException ex)
            {
                errors.Add(ex.Message);
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
