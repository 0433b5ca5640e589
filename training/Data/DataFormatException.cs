namespace PunkGrid.Training.Data;

/// <summary>A dataset file is missing or not what it should be; the message names the file, line or value and what was expected.</summary>
public sealed class DataFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A trait name that is not one of the 92; the message lists what is allowed.</summary>
public sealed class UnknownTraitException(string name, string message) : ArgumentException(message)
{
    public string TraitName { get; } = name;
}
