using PunkGrid.Training.Data;

namespace PunkGrid.Training.Tests;

/// <summary>The real datasets (../shared/data or $PUNKGRID_DATA) and scratch folders for tests.</summary>
public static class TestData
{
    public static string Directory { get; } = DataDirectory.Resolve();

    public static PunkDataset Punks => PunkDataset.Load(Directory);

    public static string NewTemporaryDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "punkgrid-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        return path;
    }
}
