//! `GridService`: locate a point in the unit grid and explain who is responsible.

use gridd_config::CityHandle;
use gridd_core::FieldError;
use gridd_core::ids::StreetCode;
use gridd_core::ticket::Placement;
use gridd_core::time::Clock;
use gridd_proto::tonic::{self, Request, Response, Status};
use gridd_proto::v1;
use std::sync::Arc;

use crate::{invalid, page_size};

/// The gRPC adapter.
pub struct GridGrpc {
    city: CityHandle,
    clock: Arc<dyn Clock>,
}

impl GridGrpc {
    /// An adapter over the current city.
    pub fn new(city: CityHandle, clock: Arc<dyn Clock>) -> Self {
        Self { city, clock }
    }
}

fn responsibility(
    city: &gridd_config::CityConfig,
    squad: &gridd_core::ids::SquadId,
    routing: v1::RoutingExplanation,
) -> v1::Responsibility {
    v1::Responsibility {
        squad_id: squad.to_string(),
        squad_name: city.responsibility.squad(squad).map(|s| s.name.clone()).unwrap_or_default(),
        routing: Some(routing),
    }
}

#[tonic::async_trait]
impl v1::grid_service_server::GridService for GridGrpc {
    async fn locate(&self, request: Request<v1::LocateRequest>) -> Result<Response<v1::LocateResponse>, Status> {
        let req = request.into_inner();
        let point = gridd_proto::wgs84_point("point", req.point.as_ref())
            .and_then(|p| p.ok_or_else(|| FieldError::new("point", "is required")))
            .map_err(invalid)?;
        let city = self.city.current();
        let grid = &city.grid;
        let at = req.at.as_ref().map_or_else(|| self.clock.now(), gridd_proto::from_timestamp);
        let Some(cell) = grid.locate(point) else {
            return Ok(Response::new(v1::LocateResponse { found: false, grid_version: grid.version().to_owned(), ..Default::default() }));
        };
        let cell_ref = grid.cell_ref(cell);
        let explain = |rule_id: String, reason: String| v1::RoutingExplanation { rule_id, reason, grid_version: grid.version().to_owned() };
        let responsible = if req.category.is_empty() {
            let street = grid.street_of(cell);
            street
                .map(|s| city.responsibility.applicable(s, &cell_ref.community_code))
                .unwrap_or_default()
                .into_iter()
                .map(|a| responsibility(&city, &a.squad, explain(a.rule_id, a.reason)))
                .collect()
        } else {
            let terms = city.catalogue.terms(&req.category, "").map_err(invalid)?;
            match gridd_router::place(&city, Some(point), &terms.class.code, at).1 {
                Placement::Assigned { squad, routing } => vec![responsibility(&city, &squad, explain(routing.rule_id, routing.reason))],
                Placement::Manual { .. } => Vec::new(),
            }
        };
        Ok(Response::new(v1::LocateResponse {
            found: true,
            cell: Some(gridd_proto::cell_ref(&cell_ref)),
            responsible,
            grid_version: grid.version().to_owned(),
        }))
    }

    async fn get_grid(&self, request: Request<v1::GetGridRequest>) -> Result<Response<v1::GetGridResponse>, Status> {
        let req = request.into_inner();
        let limit = page_size(req.page.as_ref()).map_err(invalid)?;
        let street = (!req.street_code.is_empty())
            .then(|| StreetCode::parse(&req.street_code).map_err(|e| invalid(FieldError::new("street_code", e))))
            .transpose()?;
        let after = req.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        let city = self.city.current();
        let grid = &city.grid;
        let matching = |c: &&gridd_core::grid::CellInfo| street.as_ref().is_none_or(|s| &c.code.street() == s);
        let total_cells = grid.cells().iter().filter(matching).count() as u64;
        let page: Vec<&gridd_core::grid::CellInfo> =
            grid.cells().iter().filter(matching).filter(|c| after.is_empty() || c.code.as_str() > after.as_str()).take(limit).collect();
        let next_page_token = if page.len() == limit { page.last().map(|c| c.code.to_string()).unwrap_or_default() } else { String::new() };
        let cells = page
            .into_iter()
            .map(|c| v1::Cell {
                cell: Some(gridd_proto::cell_ref(&grid.cell_ref(c))),
                area_m2: c.area_m2,
                geometry_geojson: if req.include_geometry { gridd_config::geojson::polygon_json(&grid.polygon(c)) } else { String::new() },
            })
            .collect();
        Ok(Response::new(v1::GetGridResponse {
            grid_version: grid.version().to_owned(),
            city_code: grid.divisions().city.to_string(),
            total_cells,
            cells,
            next_page_token,
        }))
    }
}
