using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Configuration;
using Orleans.Connections.Security;
using PunkGrid.Contracts;

namespace PunkGrid.Silo;

/// <summary>
/// Mutual TLS for every Orleans connection: silo to silo, and client to gateway. A cluster has its own certificate
/// authority; a silo presents a certificate it issued for server and client authentication, an operator's client one for
/// client authentication only. A silo accepts on its silo port only peers holding a silo certificate, and on its gateway
/// only holders of a certificate of the cluster (silo or client); anything else fails the handshake before a single
/// Orleans message is read. The files live in one folder (<c>PunkGrid:Tls:Directory</c>): <c>ca.crt</c> (the authority,
/// PEM), <c>silo.pfx</c> (a silo's certificate and key), <c>client.pfx</c> (an operator's), and where certificates are made,
/// <c>ca.key</c>. <c>silo tls create</c> makes a set; <c>silo tls issue</c> adds certificates for more hosts.
/// </summary>
public static class ClusterTls
{
    public const string CaFile = ClusterCertificates.AuthorityFile;
    public const string CaKeyFile = ClusterCertificates.AuthorityKeyFile;
    public const string SiloFile = ClusterCertificates.SiloFile;
    public const string ClientFile = ClusterCertificates.ClientFile;

    private static Oid ServerAuthentication => ClusterCertificates.ServerAuthentication;

    private static Oid ClientAuthentication => ClusterCertificates.ClientAuthentication;

    /// <summary>What a silo needs: its certificate with key, and the authority its peers' certificates must chain to.</summary>
    public sealed record SiloCredentials(X509Certificate2 Certificate, X509Certificate2 Authority);

    /// <summary>
    /// The silo's credentials from <see cref="ClusterTlsOptions.Directory"/>; null only when <see cref="ClusterTlsOptions.Insecure"/>
    /// is true (plain TCP, for a single machine's experiments). Missing or unreadable files are an <see cref="ArgumentException"/> naming them.
    /// </summary>
    public static SiloCredentials? Credentials(ClusterTlsOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            return options.Insecure
                ? null
                : throw new ArgumentException(
                    "the cluster's connections need TLS certificates: make a set with `punkgrid silo tls create --out DIR` and point " +
                    "PunkGrid:Tls:Directory (env PUNKGRID__Tls__Directory) at DIR, or set PunkGrid:Tls:Insecure=true to run without (anyone who " +
                    "reaches the silo and gateway ports can then drive the cluster)");
        }
        return new SiloCredentials(LoadKeyed(Path.Combine(options.Directory, SiloFile)), LoadAuthority(Path.Combine(options.Directory, CaFile)));
    }

    public static X509Certificate2 LoadAuthority(string path) => ClusterCertificates.LoadAuthority(path);

    public static X509Certificate2 LoadKeyed(string path) => ClusterCertificates.LoadKeyed(path);

    private static bool IssuedBy(X509Certificate2 remote, X509Certificate2 authority, Oid usage) => ClusterCertificates.IssuedBy(remote, authority, usage);

    /// <summary>The silo side: silo port for silo certificates only, gateway for any certificate of the cluster, outbound to silos only.</summary>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, SiloCredentials credentials)
    {
        TlsOptions Options(Oid usage) => new()
        {
            LocalCertificate = credentials.Certificate,
            RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
            ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
            RemoteCertificateValidation = (certificate, _, _) => IssuedBy(certificate, credentials.Authority, usage),
        };
        var peers = Options(ServerAuthentication); // only silo certificates carry server authentication
        var members = Options(ClientAuthentication); // silos and operators both carry client authentication
        return silo.Configure<SiloConnectionOptions>(connections =>
        {
            connections.ConfigureSiloInboundConnection(connection => connection.UseServerTls(peers));
            connections.ConfigureSiloOutboundConnection(connection => connection.UseClientTls(peers));
            connections.ConfigureGatewayInboundConnection(connection => connection.UseServerTls(members));
        });
    }

    /// <summary>Makes a cluster's set in <paramref name="directory"/>: a new authority, a silo certificate for <paramref name="hosts"/>, a client certificate.</summary>
    public static void CreateSet(string directory, IReadOnlyList<string> hosts, TimeSpan validity)
    {
        Directory.CreateDirectory(directory);
        if (File.Exists(Path.Combine(directory, CaFile)))
        {
            throw new ArgumentException($"{directory} already holds a certificate authority ({CaFile}); use `silo tls issue` to add certificates, or another folder");
        }
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=PunkGrid cluster authority", caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var authority = request.CreateSelfSigned(now.AddDays(-1), now + validity);
        WriteSecret(Path.Combine(directory, CaKeyFile), caKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(directory, CaFile), authority.ExportCertificatePem());
        Issue(authority, "silo", hosts, Path.Combine(directory, SiloFile), validity); // a self-signed certificate carries its key
        Issue(authority, "client", [], Path.Combine(directory, ClientFile), validity);
    }

    /// <summary>Issues one more certificate (<paramref name="role"/> silo or client) from the authority in <paramref name="directory"/>.</summary>
    public static void IssueFrom(string directory, string role, IReadOnlyList<string> hosts, string output, TimeSpan validity)
    {
        var authority = LoadAuthority(Path.Combine(directory, CaFile));
        using var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(Path.Combine(directory, CaKeyFile)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ArgumentException($"cannot read the authority's key {Path.Combine(directory, CaKeyFile)}: {ex.Message}", ex);
        }
        using var signer = authority.CopyWithPrivateKey(key);
        Issue(signer, role, hosts, output, validity);
    }

    private static void Issue(X509Certificate2 authority, string role, IReadOnlyList<string> hosts, string path, TimeSpan validity)
    {
        if (role is not ("silo" or "client"))
        {
            throw new ArgumentException($"role '{role}' is not allowed: silo or client");
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=PunkGrid {role}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            role == "silo" ? [ServerAuthentication, ClientAuthentication] : new OidCollection { ClientAuthentication }, true));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var host in hosts.Concat(role == "silo" ? ["localhost", "127.0.0.1"] : ["punkgrid-client"]).Distinct())
        {
            if (IPAddress.TryParse(host, out var address))
            {
                names.AddIpAddress(address);
            }
            else
            {
                names.AddDnsName(host);
            }
        }
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + validity < authority.NotAfter ? now + validity : new DateTimeOffset(authority.NotAfter.ToUniversalTime());
        using var issued = request.Create(authority, now.AddDays(-1), notAfter, RandomNumberGenerator.GetBytes(16));
        using var withKey = issued.CopyWithPrivateKey(key);
        WriteSecret(path, withKey.Export(X509ContentType.Pkcs12));
    }

    private static void WriteSecret(string path, string text) => WriteSecret(path, System.Text.Encoding.ASCII.GetBytes(text));

    /// <summary>Writes a key-bearing file readable by its owner only (0600), never briefly readable by others.</summary>
    private static void WriteSecret(string path, byte[] bytes)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(path, options))
        {
            stream.Write(bytes);
        }
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // also when it replaced an older file
        }
    }
}
