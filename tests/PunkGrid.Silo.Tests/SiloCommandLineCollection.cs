namespace PunkGrid.Silo.Tests;

/// <summary>
/// Tests that run the silo's command line read the process environment (PUNKGRID__* settings, PUNKGRID_DATA), and one of
/// them sets it: they run one at a time so a setting made for one test cannot reach another's command line.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SiloCommandLineCollection
{
    public const string Name = "Silo command line (process environment)";
}
