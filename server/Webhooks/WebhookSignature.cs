using System.Security.Cryptography;
using System.Text;

namespace PunkGrid.Server.Webhooks;

/// <summary>
/// How a delivery is signed: <c>X-PunkGrid-Signature: sha256=HEX</c>, HEX the HMAC-SHA256 under the hook's secret of
/// <c>TIMESTAMP.BODY</c>, TIMESTAMP the <c>X-PunkGrid-Timestamp</c> header (Unix seconds). A receiver recomputes it over
/// the raw body, compares in constant time, and refuses old timestamps (replays).
/// </summary>
public static class WebhookSignature
{
    public const string Header = "X-PunkGrid-Signature";
    public const string TimestampHeader = "X-PunkGrid-Timestamp";

    public static string Sign(string secret, long timestamp, string body)
    {
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{body}"));
        return "sha256=" + Convert.ToHexStringLower(mac);
    }

    public static bool Verify(string secret, long timestamp, string body, string signature) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(secret, timestamp, body)), Encoding.ASCII.GetBytes(signature));

    /// <summary>A new secret: 32 random bytes, hex, prefixed so it is recognisable in a secret store.</summary>
    public static string NewSecret() => "pgwh_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
