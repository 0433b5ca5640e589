using System.Net;
using System.Security.Cryptography;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// Where the dashboard and <c>/api/</c> listen (<c>PunkGrid:Dashboard:Urls</c>, <c>;</c>-separated; <c>off</c> turns the
/// HTTP surface off), the bearer token that every request changing the cluster must carry (<c>PunkGrid:Dashboard:Token</c>),
/// and the host names it answers to (<c>PunkGrid:Dashboard:AllowedHosts</c>, added to the URLs' own). Without a configured
/// token a loopback-only silo makes one up and prints the dashboard's URL carrying it, as notebook servers do; a public
/// address needs a configured token. Only <c>PunkGrid:Dashboard:Insecure</c> (loopback only) drops the token.
/// </summary>
public sealed record DashboardSettings(IReadOnlyList<string> Urls, string? Token, IReadOnlyList<string> AllowedHosts, bool Insecure, bool TokenGenerated)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    public bool Enabled => Urls.Count > 0;

    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "::1", "[::1]"];

    /// <summary>Parses and checks the settings: a clear <see cref="ArgumentException"/> for a bad URL, a public address without a token, or every address without allowed hosts.</summary>
    public static DashboardSettings Create(string? urls, string? token, string? allowedHosts = null, bool insecure = false)
    {
        token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();
        var value = string.IsNullOrWhiteSpace(urls) ? DefaultUrl : urls.Trim();
        var extra = (allowedHosts ?? "").Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (value.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return new DashboardSettings([], token, extra, insecure, false);
        }
        var list = value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var hosts = new List<string>(extra);
        foreach (var url in list)
        {
            var (host, wildcard) = HostOf(url);
            var loopback = !wildcard && IsLoopback(host);
            if (!loopback && token is null)
            {
                throw new ArgumentException(
                    $"dashboard URL '{url}' is not a loopback address: set a bearer token (PunkGrid:Dashboard:Token, env PUNKGRID__Dashboard__Token) " +
                    "to serve the dashboard beyond this machine, or bind it to 127.0.0.1");
            }
            if (wildcard && extra.Length == 0)
            {
                throw new ArgumentException(
                    $"dashboard URL '{url}' listens on every address: name the host names browsers reach it by in PunkGrid:Dashboard:AllowedHosts " +
                    "(env PUNKGRID__Dashboard__AllowedHosts, e.g. punkgrid.example,10.0.0.5); requests for any other host are refused (DNS rebinding)");
            }
            hosts.AddRange(loopback ? LoopbackNames : wildcard ? [] : [host]);
        }
        if (insecure && list.Any(u => HostOf(u) is var (h, w) && (w || !IsLoopback(h))))
        {
            throw new ArgumentException("PunkGrid:Dashboard:Insecure (no token) is allowed on loopback addresses only");
        }
        var generated = token is null && !insecure;
        if (generated)
        {
            token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        }
        return new DashboardSettings(list, insecure ? null : token, hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList(), insecure, generated);
    }

    /// <summary>Whether <paramref name="host"/> (a request's Host, without port) is one this dashboard answers to.</summary>
    public bool Serves(string host) =>
        AllowedHosts.Contains("*") || AllowedHosts.Contains(host, StringComparer.OrdinalIgnoreCase)
        || AllowedHosts.Contains($"[{host.Trim('[', ']')}]", StringComparer.OrdinalIgnoreCase);

    private static (string Host, bool Wildcard) HostOf(string url)
    {
        // Kestrel's wildcards (http://*:80, http://+:80) are not valid URIs: they mean every address.
        var wildcard = url.Replace("://*", "://wildcard.invalid", StringComparison.Ordinal).Replace("://+", "://wildcard.invalid", StringComparison.Ordinal);
        if (!Uri.TryCreate(wildcard, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
        {
            throw new ArgumentException($"dashboard URL '{url}' is not valid: expected http://HOST:PORT (e.g. {DefaultUrl}), several separated by ';', or 'off'");
        }
        var any = uri.Host == "wildcard.invalid" || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)));
        return (uri.Host, any);
    }

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
