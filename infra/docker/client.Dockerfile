# syntax=docker/dockerfile:1
# The thin `punkgrid` CLI (references only the contracts). Build from the repository root:
#   docker build -f infra/docker/client.Dockerfile -t punkgrid-cli .
#   docker run --rm --network punkgrid_default -e PUNKGRID__Gateways=silo-1:30000 punkgrid-cli runs
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY contracts/ contracts/
COPY clustering/ clustering/
COPY client/ client/
RUN dotnet publish client/PunkGrid.Client.csproj -c Release -o /app --nologo

FROM mcr.microsoft.com/dotnet/runtime:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
ENTRYPOINT ["dotnet", "punkgrid.dll"]
CMD ["--help"]
