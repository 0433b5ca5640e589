using TorchSharp;

namespace PunkGrid.Training.Tests;

/// <summary>Compares two models of the same architecture parameter by parameter (used by the resume-equivalence tests).</summary>
public static class WeightAssert
{
    public static void Equal(torch.nn.Module expected, torch.nn.Module actual, float tolerance = 1e-5f)
    {
        foreach (var ((name, x), (_, y)) in expected.named_parameters().Zip(actual.named_parameters()))
        {
            var difference = x.sub(y).abs().max().item<float>();
            Assert.True(difference <= tolerance, $"{name} differs by {difference}");
        }
    }
}
