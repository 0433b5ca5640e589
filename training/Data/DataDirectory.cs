namespace PunkGrid.Training.Data;

/// <summary>
/// Where the datasets live: <c>PUNKGRID_DATA</c> when set; otherwise <c>../shared/data</c> beside the
/// project root when present, else <c>./data</c> in it. The project root is the nearest folder, from the
/// working directory or the application's folder upwards, that holds <c>PunkGrid.sln</c>.
/// </summary>
public static class DataDirectory
{
    public const string EnvironmentVariable = "PUNKGRID_DATA";

    public static string Resolve(string? explicitPath = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            return Path.GetFullPath(explicitPath);
        }
        var configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(configured);
        }
        var root = FindProjectRoot() ?? Directory.GetCurrentDirectory();
        var shared = Path.GetFullPath(Path.Combine(root, "..", "shared", "data"));
        return Directory.Exists(shared) ? shared : Path.Combine(root, "data");
    }

    /// <summary>The folder holding <c>PunkGrid.sln</c>, searched upwards from the working and application folders.</summary>
    public static string? FindProjectRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "PunkGrid.sln")))
                {
                    return dir.FullName;
                }
            }
        }
        return null;
    }

    public static string CryptoPunks(string dataDirectory) => Path.Combine(dataDirectory, "cryptopunks");

    public static string PunkSheetPath(string dataDirectory) => Path.Combine(CryptoPunks(dataDirectory), "punks.png");

    public static string ClassicTraitsPath(string dataDirectory) => Path.Combine(CryptoPunks(dataDirectory), "cryptopunks-classic.csv");
}
