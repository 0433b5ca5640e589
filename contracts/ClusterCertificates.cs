using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PunkGrid.Contracts;

/// <summary>
/// The files and checks of the cluster's mutual TLS, shared by silos and clients: one folder with the cluster's
/// authority (<see cref="AuthorityFile"/>), a silo's certificate (<see cref="SiloFile"/>), an operator's
/// (<see cref="ClientFile"/>) and, where certificates are made, the authority's key (<see cref="AuthorityKeyFile"/>).
/// Silo certificates carry server and client authentication, operators' client authentication only.
/// </summary>
public static class ClusterCertificates
{
    public const string AuthorityFile = "ca.crt";
    public const string AuthorityKeyFile = "ca.key";
    public const string SiloFile = "silo.pfx";
    public const string ClientFile = "client.pfx";

    public static Oid ServerAuthentication => new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    public static Oid ClientAuthentication => new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <summary>Whether <paramref name="remote"/> was issued by <paramref name="authority"/> for <paramref name="usage"/> and is valid now.</summary>
    public static bool IssuedBy(X509Certificate2 remote, X509Certificate2 authority, Oid usage)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(usage);
        return chain.Build(remote) && chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(authority.RawDataMemory.Span);
    }

    public static X509Certificate2 LoadAuthority(string path)
    {
        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"cannot read the cluster's certificate authority {path}: {ex.Message}", ex);
        }
    }

    /// <summary>A certificate with its private key from a PKCS#12 file (no password: the file itself is the owner's only, 0600).</summary>
    public static X509Certificate2 LoadKeyed(string path)
    {
        try
        {
            var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password: null);
            return certificate.HasPrivateKey ? certificate : throw new ArgumentException($"{path} holds no private key");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"cannot read the certificate {path}: {ex.Message}", ex);
        }
    }
}
