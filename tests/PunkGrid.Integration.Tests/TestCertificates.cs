using System.Diagnostics;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// One set of cluster certificates for the whole test run, made by the real <c>silo tls create</c>: every test silo serves
/// mutual TLS with it and every test client presents its <c>client.pfx</c>, as in production.
/// </summary>
public static class TestCertificates
{
    private static readonly Lazy<string> Folder = new(Create);

    public static string Directory => Folder.Value;

    /// <summary>Another cluster's set: a valid authority and certificates this cluster never issued.</summary>
    public static string CreateForeign() => Create();

    private static string Create()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"punkgrid-test-tls-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { PostgresServer.Metadata("SiloAssembly"), "tls", "create", "--out", folder })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? folder : throw new InvalidOperationException($"silo tls create failed: {output}");
    }
}
